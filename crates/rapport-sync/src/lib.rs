//! The client side of sync: talking to a `rapport-relay`. Empty until the team-sync issue.
