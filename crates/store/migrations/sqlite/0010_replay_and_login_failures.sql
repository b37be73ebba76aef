-- State that must be shared by every instance of an installation (it was per process):
-- values that may be used only once until they expire (client-assertion jti), and failed
-- logins per account for the login limit.

-- A single-use value of a kind (`scope`), by its SHA-256, until it expires.
CREATE TABLE used_once (
    scope       TEXT NOT NULL,
    value_hash  BLOB NOT NULL CHECK (length(value_hash) = 32),
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (scope, value_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX used_once_expiry ON used_once (expires_at);

-- One row per failed login of an account (its lower-case username), dropped on success and
-- after the limit's window.
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_account ON login_failures (username, at);
