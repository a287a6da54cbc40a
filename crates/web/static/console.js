// shuin operator console: the passkey steps (WebAuthn), and nothing else. Reading works
// without this script; signing in, registering a passkey and every decision need it.
// Served by shuin at /static/console.js under `script-src 'self'` (no inline script).
"use strict";
(function () {
  const b64u = {
    encode(buffer) {
      const bytes = new Uint8Array(buffer);
      let text = "";
      for (const b of bytes) text += String.fromCharCode(b);
      return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
    decode(text) {
      const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
      return Uint8Array.from(plain, (c) => c.charCodeAt(0));
    },
  };
  const b64 = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
  };
  const status = document.getElementById("console-status");
  const say = (key, code) => {
    if (!status) return;
    status.textContent = status.dataset[key] + (code ? " " + code : "");
    status.className = "console-status " + key;
  };
  async function post(path, body) {
    const answer = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    const json = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(json.code || "http_" + answer.status);
    return json;
  }
  const assertion = (credential) => ({
    credential_id: b64u.encode(credential.rawId),
    authenticator_data: b64(credential.response.authenticatorData),
    client_data_json: b64(credential.response.clientDataJSON),
    signature: b64(credential.response.signature),
  });
  const get = (challenge, rpId, credentialId) =>
    navigator.credentials.get({
      publicKey: {
        challenge: b64u.decode(challenge),
        rpId: rpId,
        userVerification: "required",
        timeout: 120000,
        allowCredentials: credentialId
          ? [{ type: "public-key", id: b64u.decode(credentialId) }]
          : [],
      },
    });
  // Runs one passkey step; a failure is shown with its stable code.
  async function step(work) {
    if (!window.PublicKeyCredential) {
      say("unsupported");
      return;
    }
    say("working");
    try {
      const next = await work();
      say("done");
      if (next) window.location.assign(next);
    } catch (error) {
      const code = error instanceof DOMException ? "passkey_" + error.name : error.message;
      say("failed", code);
    }
  }

  const signin = document.getElementById("console-signin");
  if (signin) {
    signin.addEventListener("click", () =>
      step(async () => {
        const begun = await post("/console/v1/signin/begin", {});
        const credential = await get(begun.challenge, begun.rp_id, null);
        const done = await post("/console/v1/signin/finish", {
          nonce: begun.nonce,
          assertion: assertion(credential),
        });
        return done.next;
      })
    );
  }

  const enrol = document.getElementById("console-enrol");
  if (enrol) {
    enrol.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = new FormData(enrol).get("token").trim();
      step(async () => {
        const begun = await post("/console/v1/enrol/begin", { token });
        const created = await navigator.credentials.create({
          publicKey: {
            rp: { id: begun.rp_id, name: begun.rp_name },
            user: {
              id: b64u.decode(begun.user_id),
              name: begun.user_name,
              displayName: begun.user_name,
            },
            challenge: b64u.decode(begun.challenge),
            pubKeyCredParams: [
              { type: "public-key", alg: -7 },
              { type: "public-key", alg: -257 },
            ],
            authenticatorSelection: { residentKey: "required", userVerification: "required" },
            attestation: "none",
            timeout: 120000,
          },
        });
        const credentialId = b64u.encode(created.rawId);
        const text = await post("/console/v1/enrol/text", {
          token,
          credential_id: credentialId,
          public_key: b64(created.response.getPublicKey()),
        });
        const proof = await get(text.challenge, begun.rp_id, credentialId);
        const done = await post("/console/v1/enrol/finish", {
          token,
          registration: text.registration,
          assertion: assertion(proof),
        });
        return done.next;
      });
    });
  }

  for (const form of document.querySelectorAll("form[data-shuin-sign]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const fields = Object.fromEntries(new FormData(form));
      fields.action = form.dataset.shuinSign;
      // The auditor's downloads have endpoints of their own, on the remote zone too.
      const api = form.dataset.shuinApi || "/console/v1";
      step(async () => {
        const prepared = await post(api + "/prepare", fields);
        const credential = await get(prepared.challenge, prepared.rp_id, prepared.credential_id);
        const done = await post(api + "/act", {
          csrf: fields.csrf,
          request: prepared.request,
          assertion: assertion(credential),
          attachment: prepared.attachment,
        });
        if (done.shown) {
          // Shown once, here: a registration's 利用者識別符号.
          const result = document.getElementById("console-result");
          for (const [name, value] of Object.entries(done.shown)) {
            const cell = document.getElementById("result-" + name);
            if (cell) cell.textContent = value;
          }
          if (result) result.hidden = false;
          form.reset();
          return null;
        }
        return done.next;
      });
    });
  }

  // The auditor's view: an entry's inclusion in the signed log, checked here.
  const proof = document.getElementById("console-proof");
  const check = document.getElementById("console-check");
  if (proof && check) {
    const results = document.getElementById("console-proof-results");
    const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
    const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
    const sha256 = async (...parts) => {
      const total = parts.reduce((n, p) => n + p.length, 0);
      const joined = new Uint8Array(total);
      let at = 0;
      for (const part of parts) {
        joined.set(part, at);
        at += part.length;
      }
      return new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
    };
    const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    const report = (key, detail, failed) => {
      const item = document.createElement("li");
      item.textContent = proof.dataset[key] + (detail ? " " + detail : "");
      if (failed) item.className = "failed";
      results.appendChild(item);
    };
    // An ASN.1 DER ECDSA signature as the fixed-size r || s (each `size` bytes) that
    // WebCrypto verifies. A P-384 signature's sequence may take a long-form length.
    const rawSignature = (der, size) => {
      const integer = (at) => {
        if (der[at] !== 0x02) throw new Error("signature_malformed");
        const length = der[at + 1];
        let value = der.slice(at + 2, at + 2 + length);
        while (value.length > size && value[0] === 0) value = value.slice(1);
        if (value.length > size) throw new Error("signature_malformed");
        const fixed = new Uint8Array(size);
        fixed.set(value, size - value.length);
        return [fixed, at + 2 + length];
      };
      if (der[0] !== 0x30) throw new Error("signature_malformed");
      const start = der[1] === 0x81 ? 3 : 2;
      const [r, next] = integer(start);
      const [s] = integer(next);
      const raw = new Uint8Array(2 * size);
      raw.set(r);
      raw.set(s, size);
      return raw;
    };
    // How each kind of audit key verifies a checkpoint signature (the note's bytes after
    // its 4-byte key ID), as shuin signs them (crates/ledger note.rs).
    const verifiers = {
      "ecdsa-p256": [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }, (sig) => rawSignature(sig, 32)],
      "ecdsa-p384": [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }, (sig) => rawSignature(sig, 48)],
      "rsa-pkcs1-sha256": [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }, (sig) => sig],
    };
    // RFC 9162 section 2.1.3.2.
    const rootFromPath = async (index, size, leaf, path) => {
      if (index >= size) throw new Error("index_beyond_tree");
      let fn = index;
      let sn = size - 1;
      let r = leaf;
      for (const p of path) {
        if (sn === 0) throw new Error("proof_too_long");
        if (fn % 2 === 1 || fn === sn) {
          r = await sha256(Uint8Array.of(1), p, r);
          if (fn % 2 === 0) {
            while (fn % 2 === 0 && fn !== 0) {
              fn = Math.floor(fn / 2);
              sn = Math.floor(sn / 2);
            }
          }
        } else {
          r = await sha256(Uint8Array.of(1), r, p);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
      if (sn !== 0) throw new Error("proof_too_short");
      return r;
    };
    const run = async () => {
      results.textContent = "";
      const seq = Number(proof.dataset.seq);
      const canonical = Uint8Array.from(atob(proof.dataset.canonical), (c) => c.charCodeAt(0));
      const leaf = await sha256(Uint8Array.of(0), canonical);
      const stored = document.getElementById("leaf-hash").textContent.trim();
      if (hex(leaf) !== stored) throw new Error("leaf_hash_mismatch");
      report("msgLeaf");
      const answer = await fetch("/ledger/v1/checkpoint", { credentials: "same-origin" });
      if (!answer.ok) throw new Error("checkpoint_unavailable");
      const note = await answer.text();
      const split = note.indexOf("\n\n");
      if (split < 0) throw new Error("checkpoint_malformed");
      const text = note.slice(0, split + 1);
      const [origin, sizeText, rootText] = text.split("\n");
      const size = Number(sizeText);
      const root = Uint8Array.from(atob(rootText), (c) => c.charCodeAt(0));
      const lines = note.slice(split + 2).split("\n").filter((l) => l.startsWith("\u2014 "));
      const name = proof.dataset.keyName;
      const keyId = (line) =>
        hex(Uint8Array.from(atob(line.split(" ")[2] || ""), (c) => c.charCodeAt(0)).slice(0, 4));
      // The log's own line: its name and its key's ID (as the Rust verifiers match them).
      const own = lines.find((l) => l.split(" ")[1] === name && keyId(l) === proof.dataset.keyId);
      if (origin !== name || !own) throw new Error("checkpoint_not_signed_by_audit_key");
      const verifier = Object.hasOwn(verifiers, proof.dataset.algorithm) ? verifiers[proof.dataset.algorithm] : null;
      if (!verifier) {
        report("msgUnchecked");
      } else {
        const [importAs, verifyAs, signature] = verifier;
        const signed = Uint8Array.from(atob(own.split(" ")[2]), (c) => c.charCodeAt(0));
        const spki = Uint8Array.from(atob(proof.dataset.spki), (c) => c.charCodeAt(0));
        const key = await crypto.subtle.importKey("spki", spki, importAs, false, ["verify"]);
        const ok = await crypto.subtle.verify(verifyAs, key, signature(signed.slice(4)), new TextEncoder().encode(text));
        if (!ok) throw new Error("checkpoint_signature_invalid");
        report("msgSigned", String(size));
      }
      if (seq >= size) {
        report("msgPending", "", true);
        return;
      }
      const path = await fetch(`/ledger/v1/proof/inclusion?index=${seq}&size=${size}`, { credentials: "same-origin" });
      if (!path.ok) throw new Error("proof_unavailable");
      const body = await path.json();
      const computed = await rootFromPath(seq, size, leaf, body.inclusion_path.map(unhex));
      if (!same(computed, root)) throw new Error("inclusion_proof_invalid");
      report("msgIncluded");
      // Cosignatures (C2SP tlog-cosignature): Ed25519 over "cosignature/v1", the time
      // and the checkpoint, by the configured witnesses.
      const witnesses = JSON.parse(proof.dataset.witnesses || "{}");
      const witnessed = [];
      const unknown = [];
      for (const line of lines.filter((l) => l !== own)) {
        const [, witness, encoded] = line.split(" ");
        if (!Object.hasOwn(witnesses, witness) || keyId(line) !== witnesses[witness][1]) {
          unknown.push(witness);
          continue;
        }
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        if (bytes.length !== 4 + 8 + 64) throw new Error("cosignature_malformed");
        const time = new DataView(bytes.buffer).getBigUint64(4);
        const message = new TextEncoder().encode(`cosignature/v1\ntime ${time}\n${text}`);
        const raw = Uint8Array.from(atob(witnesses[witness][0]), (c) => c.charCodeAt(0));
        const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
        const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes.slice(12), message);
        if (!ok) throw new Error("cosignature_invalid: " + witness);
        witnessed.push(`${witness}: ${new Date(Number(time) * 1000).toISOString()}`);
      }
      if (witnessed.length > 0) report("msgWitnessed", witnessed.join(", "));
      else if (Object.keys(witnesses).length > 0) report("msgNotCosigned");
      if (unknown.length > 0) report("msgUnknownWitness", unknown.join(", "));
    };
    check.addEventListener("click", () => {
      run().catch((error) => report("msgFailed", error.message, true));
    });
  }
})();
