//! SoftHSM2 tokens in a directory of their own, for tests and development (DEPENDENCIES.md
//! "SoftHSM2"): a `softhsm2.conf` naming the directory, `softhsm2-util --init-token`, and
//! the module found through `SHUIN_SOFTHSM_MODULE`, `dpkg -L libsofthsm2` or the usual
//! paths. SoftHSM2 is a software token: never a production issuer key store.

use crate::{KeyError, Pkcs11Backend};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

/// Environment variable naming the SoftHSM2 module explicitly.
pub const MODULE_ENV: &str = "SHUIN_SOFTHSM_MODULE";
/// Environment variable that turns "SoftHSM2 is absent, skipping" into a failure.
pub const REQUIRE_ENV: &str = "SHUIN_REQUIRE_SOFTHSM";

const USUAL_PATHS: [&str; 4] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 PKCS#11 module, if installed.
pub fn find_module() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(MODULE_ENV) {
        return Some(PathBuf::from(path));
    }
    let listed = Command::new("dpkg")
        .args(["-L", "libsofthsm2"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    listed
        .lines()
        .filter(|line| line.ends_with("/libsofthsm2.so"))
        .map(PathBuf::from)
        .chain(USUAL_PATHS.iter().map(PathBuf::from))
        .find(|path| path.is_file())
}

fn util_present() -> bool {
    Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The module, if SoftHSM2 (module and `softhsm2-util`) is usable. When it is not: an
/// error if `SHUIN_REQUIRE_SOFTHSM=1`, otherwise `None` after a note on stderr.
pub fn module_for_tests() -> Result<Option<PathBuf>, String> {
    let module = find_module();
    let util = util_present();
    match module {
        Some(module) if util => Ok(Some(module)),
        _ => {
            let missing = if util {
                "the libsofthsm2.so module".to_owned()
            } else {
                "softhsm2-util".to_owned()
            };
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                Err(format!(
                    "SoftHSM2 is required ({REQUIRE_ENV}=1) but {missing} was not found; apt-get install softhsm2 (or set {MODULE_ENV})"
                ))
            } else {
                eprintln!(
                    "note: SoftHSM2 not found ({missing} missing); skipping the SoftHSM2 tests (set {REQUIRE_ENV}=1 to require them)"
                );
                Ok(None)
            }
        }
    }
}

fn fail(what: &str, e: cryptoki::error::Error) -> String {
    format!("{what}: {e}")
}

/// An initialised SoftHSM2 token whose files live under one directory.
pub struct SoftHsmToken {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The `softhsm2.conf` to put in `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The token label.
    pub label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for SoftHsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftHsmToken")
            .field("module", &self.module)
            .field("conf", &self.conf)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl SoftHsmToken {
    /// Writes `dir/softhsm2.conf` and `dir/tokens/`, and initialises a token `label` with
    /// user PIN `pin` (the SO PIN is `pin` reversed followed by `-so`).
    pub fn create(module: &Path, dir: &Path, label: &str, pin: &str) -> Result<Self, String> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| format!("{}: {e}", tokens.display()))?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        let so_pin = format!("{}-so", pin.chars().rev().collect::<String>());
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", label, "--pin", pin])
            .args(["--so-pin", &so_pin])
            .output()
            .map_err(|e| format!("softhsm2-util: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "softhsm2-util --init-token: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(Self {
            module: module.to_owned(),
            conf,
            label: label.to_owned(),
            pin: Zeroizing::new(pin.to_owned()),
        })
    }

    /// Points this process's SoftHSM2 at the token's directory. Call it before the module
    /// is first loaded in the process (SoftHSM2 reads the variable at `C_Initialize`).
    pub fn use_in_this_process(&self) {
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
    }

    /// Opens a backend on the token (after [`SoftHsmToken::use_in_this_process`]).
    pub fn open(&self) -> Result<Pkcs11Backend, KeyError> {
        self.open_sized(crate::PoolSize::default())
    }

    /// Opens a backend on the token with a pool of `size`.
    pub fn open_sized(&self, size: crate::PoolSize) -> Result<Pkcs11Backend, KeyError> {
        Pkcs11Backend::open_sized(&self.module, &self.label, self.pin.clone(), size)
    }

    /// A logged-in read-write session on the token, straight through cryptoki.
    fn user_session(&self) -> Result<cryptoki::session::Session, String> {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::session::UserType;
        use cryptoki::types::AuthPin;
        let context = Pkcs11::new(&self.module).map_err(|e| fail("loading the module", e))?;
        // The module may be initialised already in this process.
        let _ = context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        let mut slot = None;
        for candidate in context
            .get_slots_with_token()
            .map_err(|e| fail("C_GetSlotList", e))?
        {
            let info = context
                .get_token_info(candidate)
                .map_err(|e| fail("C_GetTokenInfo", e))?;
            if info.label() == self.label {
                slot = Some(candidate);
            }
        }
        let slot = slot.ok_or_else(|| format!("no token {:?}", self.label))?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| fail("C_OpenSession", e))?;
        // Already logged in if a backend is open in this process.
        let _ = session.login(UserType::User, Some(&AuthPin::from(self.pin.as_str())));
        Ok(session)
    }

    /// For tests of the issuer key policy: creates an RSA-2048 key pair labelled `label`
    /// with `CKA_EXTRACTABLE=true`, as a careless operator might,
    /// directly through PKCS#11 (after [`SoftHsmToken::use_in_this_process`]).
    pub fn create_careless_key(&self, label: &str) -> Result<(), String> {
        use cryptoki::mechanism::Mechanism;
        use cryptoki::object::Attribute;
        use cryptoki::types::Ulong;
        let session = self.user_session()?;
        let bits = Ulong::try_from(2048usize).map_err(|e| fail("modulus bits", e))?;
        let common = [
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(label.as_bytes().to_vec()),
        ];
        let mut public = common.to_vec();
        public.extend([
            Attribute::ModulusBits(bits),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
        ]);
        let mut private = common.to_vec();
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
            Attribute::Sign(true),
        ]);
        session
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .map_err(|e| fail("C_GenerateKeyPair", e))?;
        Ok(())
    }

    /// For tests: destroys every object labelled `label`.
    pub fn destroy_objects(&self, label: &str) -> Result<usize, String> {
        use cryptoki::object::Attribute;
        let session = self.user_session()?;
        let objects = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(|e| fail("C_FindObjects", e))?;
        for object in &objects {
            session
                .destroy_object(*object)
                .map_err(|e| fail("C_DestroyObject", e))?;
        }
        Ok(objects.len())
    }
}
