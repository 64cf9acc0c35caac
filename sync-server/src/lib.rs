//! The self-hostable automerge relay. Empty until the relay issue; it will never link rapport-core.
