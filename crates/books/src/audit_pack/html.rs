//! `index.html`: one self-contained static page (no scripts, no outside resources), every
//! text escaped.

use super::catalogue::Item;
use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans JP',sans-serif;margin:2rem;max-width:75rem;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{border:1px solid #bbb;padding:.4rem;vertical-align:top;text-align:left}\
th{background:#f0f0f0}.status{font-weight:bold;white-space:nowrap}.evidence{color:#075e0b}.partial{color:#8a5a00}.organisational{color:#444}\
.missing{color:#a00}details pre{white-space:pre-wrap;word-break:break-all;font-size:.8rem;max-height:20rem;overflow:auto}code{font-size:.85rem}";

fn status_label(status: &str) -> &'static str {
    match status {
        "evidence" => "evidence / 証跡あり",
        "partial" => "partial / 一部組織的",
        _ => "organisational / 組織的措置",
    }
}

fn rows(out: &mut String, items: &[Item]) {
    out.push_str("<table><thead><tr><th>#</th><th>項目 / Item</th><th>状態 / Status</th><th>証跡 / Evidence</th></tr></thead><tbody>\n");
    for item in items {
        let _ = write!(
            out,
            "<tr id=\"item-{id}\"><td><strong>{id}</strong></td><td>{ja}<br><small>{en}</small><br><small>{group}</small></td><td class=\"status {status}\">{label}</td><td>",
            id = escape(item.id),
            ja = escape(item.title_ja),
            en = escape(item.title_en),
            group = escape(item.group),
            status = escape(item.status),
            label = status_label(item.status),
        );
        if !item.evidence.is_empty() {
            out.push_str("<ul>");
            for e in &item.evidence {
                let class = if e.found { "" } else { " class=\"missing\"" };
                let detail = serde_json::to_string_pretty(&e.value).unwrap_or_default();
                let _ = write!(
                    out,
                    "<li{class}><strong>{label}</strong> <small>({source})</small>: {summary}<details><summary>data</summary><pre>{detail}</pre></details></li>",
                    label = escape(&e.label),
                    source = escape(&e.source),
                    summary = escape(&e.summary),
                    detail = escape(&detail),
                );
            }
            out.push_str("</ul>");
        }
        if let Some(note) = item.organisational {
            let _ = write!(
                out,
                "<p class=\"organisational\"><strong>組織的措置 / organisational:</strong> {}</p>",
                escape(note)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn pre(out: &mut String, value: &Value) {
    let text = match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    let _ = write!(out, "<pre>{}</pre>", escape(&text));
}

/// The keys, one row each, with what is missing in red.
fn keys_table(out: &mut String, keys: &Value) {
    out.push_str("<h2>鍵 / Keys</h2>\n");
    let missing: Vec<&str> = keys["missing"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"missing\"><strong>不足 / Missing:</strong> {}</p>",
            escape(&missing.join(", "))
        );
    }
    out.push_str("<table><thead><tr><th>鍵 / Key</th><th>保管 / Holder</th><th>検証 / Validation</th><th>属性 / Attributes</th><th>不足 / Missing</th></tr></thead><tbody>\n");
    for key in keys["keys"].as_array().into_iter().flatten() {
        let json = |v: &Value| escape(&serde_json::to_string_pretty(v).unwrap_or_default());
        let codes: Vec<&str> = key["missing"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><strong>{role}</strong><br><code>{uri}</code><br>{backend}</td><td><pre>{holder}</pre></td><td><pre>{validation}</pre><pre>{certifications}</pre></td><td><pre>{attributes}</pre>{policy}</td><td class=\"missing\">{codes}</td></tr>",
            role = escape(key["role"].as_str().unwrap_or("")),
            uri = escape(key["uri"].as_str().unwrap_or("")),
            backend = escape(key["backend"].as_str().unwrap_or("not described")),
            holder = json(&key["holder"]),
            validation = json(&key["validation"]),
            certifications = json(&key["certifications"]),
            attributes = json(&key["attributes"]),
            policy = escape(&format!("issuer key policy: {}", key["issuer_key_policy"].as_str().unwrap_or(""))),
            codes = escape(&codes.join(", ")),
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The page for `pack` (the same content as pack.json).
pub(crate) fn render(pack: &Value, items: &[Item], conditions: &[Item]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>監査パック / Audit pack: {origin}</title><style>{STYLE}</style></head><body>\n\
         <h1>監査パック / Audit pack</h1>\n<p>{public_url} — generated {generated} by shuin {version}. \
         The same content is in <a href=\"pack.json\">pack.json</a>; the ledger export is in <a href=\"ledger-export/manifest.json\">ledger-export/</a> \
         (verify it offline with <code>shuin ledger verify --export ledger-export</code>).</p>\n",
        origin = escape(pack["instance"]["public_url"].as_str().unwrap_or("")),
        public_url = escape(pack["instance"]["public_url"].as_str().unwrap_or("")),
        generated = escape(pack["generated_at"].as_str().unwrap_or("")),
        version = escape(pack["shuin_version"].as_str().unwrap_or("")),
    );
    if pack["instance"]["development"] == true
        || pack["key_backend"]["status"]["key_backend"]["kind"] == "software"
    {
        out.push_str("<p class=\"missing\"><strong>開発用 / Not a production instance:</strong> development mode or software keys (not an HSM).</p>\n");
    }
    let s = &pack["summary"];
    let _ = writeln!(
        out,
        "<p>{items} survey items, {conditions} modernisation conditions: {evidence} with evidence, {partial} partial, {organisational} organisational.</p>",
        items = items.len(),
        conditions = conditions.len(),
        evidence = s["evidence"],
        partial = s["partial"],
        organisational = s["organisational"],
    );
    out.push_str("<h2>調査項目 / Survey items (docs/criteria.md)</h2>\n");
    rows(&mut out, items);
    out.push_str("<h2>見直しの条件 / Modernisation conditions</h2>\n");
    rows(&mut out, conditions);
    out.push_str("<h2>帳簿の検証 / Ledger verification</h2>\n<h3>Database</h3>");
    pre(&mut out, &pack["ledger"]["verification"]);
    out.push_str("<h3>Export (ledger-export/)</h3>");
    pre(&mut out, &pack["ledger"]["export"]);
    out.push_str("<h3>最新チェックポイント / Latest checkpoint</h3>");
    pre(&mut out, &pack["ledger"]["latest_checkpoint"]["note"]);
    keys_table(&mut out, &pack["keys"]);
    out.push_str("<h2>鍵・封印 / Key backend and seal</h2>");
    pre(&mut out, &pack["key_backend"]);
    out.push_str("<h2>CRL</h2>");
    pre(&mut out, &pack["crl"]);
    out.push_str("<h2>保存期間 / Retention</h2>");
    pre(&mut out, &pack["retention"]);
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
