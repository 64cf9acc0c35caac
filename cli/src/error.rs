//! Sorting errors for the user: what they typed wrong (exit 1, with a hint),
//! usage errors (exit 2, from clap), and internal failures (exit 3).

use std::process::ExitCode;

use rapport_core::Error as CoreError;
use rapport_store::StoreError;

/// An error the user can fix, with an optional hint on what to type instead.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Builds a user error.
pub fn user(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UserError {
        message: message.into(),
        hint: None,
    })
}

/// Builds a user error with a hint.
pub fn user_hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UserError {
        message: message.into(),
        hint: Some(hint.into()),
    })
}

enum Kind {
    User(Option<String>),
    Internal,
}

fn classify(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<UserError>() {
            return Kind::User(u.hint.clone());
        }
        if let Some(core) = cause.downcast_ref::<CoreError>() {
            return match core {
                CoreError::InvalidValue { .. } | CoreError::NotFound { .. } => Kind::User(None),
                CoreError::Ambiguous { .. } => Kind::User(Some(
                    "name it more precisely: the full name, an email, or the id prefix shown in lists".into(),
                )),
                CoreError::NewerSchema { .. } => Kind::User(None),
                CoreError::Corrupt(_) => Kind::User(Some("run `rapport doctor`".into())),
                _ => Kind::Internal,
            };
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return match store {
                StoreError::Io { .. } => Kind::Internal,
                StoreError::Corrupt { .. } => Kind::User(Some(
                    "run `rapport doctor --repair` to move the damaged file aside".into(),
                )),
                _ => Kind::User(None),
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return Kind::User(None);
        }
    }
    Kind::Internal
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints the error and picks the exit code.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    // A reader that stopped reading (`rapport ... | head`) is not an error.
    if is_broken_pipe(&err) {
        return ExitCode::SUCCESS;
    }
    let message = format!("{err:#}");
    match classify(&err) {
        Kind::User(hint) => {
            eprintln!("error: {message}");
            if let Some(h) = hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(1)
        }
        Kind::Internal => {
            eprintln!("internal error: {message}");
            ExitCode::from(3)
        }
    }
}
