//! The command line: `portico-gateway validate`, and start-up failures that must
//! name what to fix.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use integration::{config_hash, free_port, gateway_bin, remove_dir, write_temp_file};

fn validate(text: &str) -> Output {
    let (dir, file) = write_temp_file("kong.yaml", text);
    let out = Command::new(gateway_bin())
        .arg("validate")
        .arg(&file)
        .output()
        .expect("run portico-gateway validate");
    remove_dir(&dir);
    out
}

/// Runs the gateway and waits (bounded) for it to exit; kills it if it does not.
fn run_until_exit(args: &[String]) -> (Option<i32>, String) {
    let mut child = Command::new(gateway_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portico-gateway");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

const GOOD: &str = r#"_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9
  routes:
  - paths: [/a, '~/b/\d+$']
upstreams:
- name: pool.internal
  targets:
  - target: 127.0.0.1:10
"#;

#[test]
fn validate_reports_every_error_with_its_path_and_exits_1() {
    let out = validate(
        r#"_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9
  strip_paht: true
  routes:
  - paths: [/ok, '~/(b']
    methods: [get]
"#,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    for want in [
        "services[0].routes[0].paths[1]: invalid regex",
        "services[0].strip_paht: unknown field",
        "services[0].routes[0].methods[0]: invalid value: get",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in:\n{stdout}"
        );
    }
}

#[test]
fn validate_accepts_a_good_file_and_prints_its_hash() {
    let out = validate(GOOD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("OK (1 services, 1 routes, 1 upstreams, 1 targets, 0 certificates)"),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("config hash {}", config_hash(GOOD))),
        "{stdout}"
    );
}

#[test]
fn validate_checks_certificates_too() {
    let out = validate(
        "_format_version: \"3.0\"\ncertificates:\n- cert: \"-----BEGIN CERTIFICATE-----\\nnot base64\\n-----END CERTIFICATE-----\\n\"\n  key: \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"\n  snis: [a.test]\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("certificates[0].cert"), "{stdout}");
}

#[test]
fn validate_a_missing_file_fails() {
    let out = Command::new(gateway_bin())
        .args(["validate", "/nonexistent/portico/kong.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read"));
}

#[test]
fn a_port_in_use_names_the_flag() {
    let (dir, file) = write_temp_file("kong.yaml", GOOD);
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let free = || format!("127.0.0.1:{}", free_port());
    let cases = [
        ("--proxy-listen", taken_addr.clone(), free(), free()),
        ("--proxy-listen-tls", free(), taken_addr.clone(), free()),
        ("--status-listen", free(), free(), taken_addr.clone()),
    ];
    for (flag, plain, tls, status) in cases {
        let (code, text) = run_until_exit(&[
            "--config".into(),
            file.display().to_string(),
            "--proxy-listen".into(),
            plain,
            "--proxy-listen-tls".into(),
            tls,
            "--status-listen".into(),
            status,
        ]);
        assert_eq!(code, Some(1), "{flag}: {text}");
        assert!(
            text.contains(&format!("cannot listen on {taken_addr} ({flag})")),
            "the error should name {flag}: {text}"
        );
    }
    drop(taken);
    remove_dir(&dir);
}

#[test]
fn an_invalid_config_at_start_up_fails_with_its_errors() {
    let (dir, file) = write_temp_file(
        "kong.yaml",
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:9\n  routes:\n  - paths: ['~/(x']\n",
    );
    let (code, text) = run_until_exit(&[
        "--config".into(),
        file.display().to_string(),
        "--proxy-listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--status-listen".into(),
        format!("127.0.0.1:{}", free_port()),
    ]);
    remove_dir(&dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("services[0].routes[0].paths[0]: invalid regex"),
        "{text}"
    );
    assert!(text.contains("the config file is invalid"), "{text}");
}
