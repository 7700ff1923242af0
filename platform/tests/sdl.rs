//! `graphql-schema/schema.graphql` is the exported SDL of the platform's schema.
//! This fails when they drift; `UPDATE_SDL=1 cargo test -p platform --test sdl`
//! rewrites the file.

#[test]
fn schema_graphql_matches_the_server() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphql-schema/schema.graphql");
    let sdl = platform::graphql::sdl();
    if std::env::var_os("UPDATE_SDL").is_some() {
        std::fs::write(&path, &sdl).expect("cannot write schema.graphql");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == sdl,
        "graphql-schema/schema.graphql is out of date: run `UPDATE_SDL=1 cargo test -p platform --test sdl` and commit it"
    );
}
