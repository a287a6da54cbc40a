//! A real headless Chromium driven over the DevTools protocol (CDP, one WebSocket,
//! flattened sessions): navigate, click, evaluate, take screenshots, run axe-core, and
//! collect what the console reports (CSP violations among it).
//!
//! `launch` answers `None` when chromium is not installed, unless
//! `SHUIN_REQUIRE_CHROMIUM=1` (CI), which makes that a failure. axe-core is the file
//! named by `SHUIN_AXE_CORE_JS` (scripts/test installs it from npm).

use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// The flags of every headless Chromium the tests start (no sandbox in containers, no
/// network of its own, nothing synced or updated).
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// How long one DevTools answer or event may take.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Events of the page session not yet looked at.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

/// One axe-core violation.
#[derive(Debug)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    pub nodes: Vec<String>,
}

fn required() -> bool {
    std::env::var("SHUIN_REQUIRE_CHROMIUM").as_deref() == Ok("1")
}

/// The axe-core script, if installed.
pub fn axe_core() -> Option<String> {
    let path = std::env::var_os("SHUIN_AXE_CORE_JS").map(PathBuf::from);
    match path.map(std::fs::read_to_string) {
        Some(Ok(source)) => Some(source),
        Some(Err(e)) => panic!("SHUIN_AXE_CORE_JS cannot be read: {e}"),
        None => {
            assert!(
                !required(),
                "SHUIN_REQUIRE_CHROMIUM=1 needs SHUIN_AXE_CORE_JS (axe.min.js)"
            );
            eprintln!("note: SHUIN_AXE_CORE_JS not set; skipping the browser test");
            None
        }
    }
}

impl Browser {
    /// A fresh headless Chromium asking for Japanese, with a page of 1200×900 CSS pixels.
    pub fn launch() -> Option<Browser> {
        Browser::launch_with(&[])
    }

    /// [`Browser::launch`] with more command-line flags.
    pub fn launch_with(flags: &[String]) -> Option<Browser> {
        let profile = tempfile::tempdir().unwrap();
        let spawned = ["chromium", "chromium-browser"].iter().find_map(|tool| {
            Command::new(tool)
                .args(CHROMIUM_FLAGS)
                .args([
                    "--remote-debugging-port=0",
                    "--remote-allow-origins=*",
                    // A browser set to Japanese, as most applicants' are.
                    "--accept-lang=ja",
                ])
                .args(flags)
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        });
        let Some(child) = spawned else {
            assert!(
                !required(),
                "SHUIN_REQUIRE_CHROMIUM=1 but chromium is not installed"
            );
            eprintln!("note: chromium not found; skipping the browser test");
            return None;
        };
        let endpoint = devtools_endpoint(profile.path());
        let (host_port, path) = endpoint.split_once('/').unwrap();
        let stream = TcpStream::connect(host_port).unwrap();
        stream.set_read_timeout(Some(ANSWER_WAIT)).unwrap();
        let url = format!("ws://{host_port}/{path}");
        let (socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].clone();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        Some(browser)
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            assert!(Instant::now() < deadline, "no answer to {method}");
            let message = self.read();
            if message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.keep_event(message);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(_) => panic!("chromium closed the DevTools connection"),
                _ => continue,
            }
        }
    }

    fn keep_event(&mut self, message: Value) {
        if message["sessionId"].as_str() == Some(self.session.as_str()) {
            self.events.push(message);
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(None, method, params)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Waits for the page event `method` (one that came after the last `forget_events`).
    fn wait_for(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
                return self.events.remove(i);
            }
            assert!(Instant::now() < deadline, "no {method} event");
            let message = self.read();
            self.keep_event(message);
        }
    }

    /// Drops the events so far (before an action whose events are awaited).
    fn forget_events(&mut self) {
        self.events.clear();
    }

    /// Opens `url` and waits until the page has loaded: a new document, complete (a
    /// load event of a navigation the page started before does not count).
    pub fn open(&mut self, url: &str) {
        self.evaluate("window.__shuinLeft = true; 1");
        self.forget_events();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("Page.loadEventFired");
        let started = std::time::Instant::now();
        while self.evaluate("!window.__shuinLeft && document.readyState === 'complete'")
            != json!(true)
        {
            assert!(
                started.elapsed() < ANSWER_WAIT,
                "{url} never finished loading"
            );
            self.wait_a_little();
        }
    }

    fn wait_a_little(&mut self) {
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Runs `script` (which navigates: a click on a link, a form submitted) and waits until
    /// the next page has loaded.
    pub fn navigate_by(&mut self, script: &str) {
        self.forget_events();
        self.evaluate(script);
        self.wait_for("Page.loadEventFired");
    }

    /// The value of a JavaScript expression (a promise is awaited).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Presses Tab once (keyboard use) and answers the focused element's class and text.
    pub fn press_tab(&mut self) -> Value {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
            );
        }
        self.evaluate(
            "({class: document.activeElement.className, text: document.activeElement.textContent})",
        )
    }

    /// What the console and the page reported as errors since the page was opened
    /// (a CSP violation is one).
    pub fn errors(&mut self) -> Vec<String> {
        // A round trip, so that what the page reported so far has arrived.
        self.evaluate("1");
        self.events
            .iter()
            .filter_map(|event| match event["method"].as_str() {
                Some("Log.entryAdded") if event["params"]["entry"]["level"] == "error" => {
                    Some(event["params"]["entry"]["text"].to_string())
                }
                Some("Runtime.exceptionThrown") => Some(event["params"].to_string()),
                Some("Runtime.consoleAPICalled") if event["params"]["type"] == "error" => {
                    Some(event["params"]["args"].to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// axe-core's violations on the page (`source` is axe.min.js).
    pub fn axe(&mut self, source: &str) -> Vec<Violation> {
        self.evaluate(source);
        let found = self.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => \
             ({id: v.id, impact: v.impact || '', help: v.help, \
               nodes: v.nodes.map(n => n.target.join(' '))})))",
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Violation {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                impact: v["impact"].as_str().unwrap_or_default().to_owned(),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                nodes: v["nodes"]
                    .as_array()
                    .map(|n| n.iter().map(|t| t.to_string()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Lets the page download files into `dir` (the name its server gives).
    pub fn allow_downloads(&mut self, dir: &Path) {
        self.browser_call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        );
    }

    /// A PNG of the whole page, written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{} bytes",
            png.len()
        );
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `127.0.0.1:PORT/devtools/browser/ID` from the profile's `DevToolsActivePort` file,
/// which Chromium writes once it listens.
fn devtools_endpoint(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("127.0.0.1:{port}{path}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not open its DevTools port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
