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
      window.location.assign(next);
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
      step(async () => {
        const prepared = await post("/console/v1/prepare", fields);
        const credential = await get(prepared.challenge, prepared.rp_id, prepared.credential_id);
        const done = await post("/console/v1/act", {
          csrf: fields.csrf,
          request: prepared.request,
          assertion: assertion(credential),
        });
        return done.next;
      });
    });
  }
})();
