//! The decK loader on arbitrary text (YAML or JSON): it must answer with a
//! config or with errors, never panic, whatever a user's file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(loaded) = graphql_schema::load_str(text) {
            // a loaded config hashes, and its counts add up
            let _ = loaded.config.hash();
            let _ = loaded.config.counts();
        }
    }
});
