-- Access management (DESIGN.md §2.2, issue 9): the installation's access document, versioned, and
-- the exercises of rights on objects that per-object separation of duties is checked against.
--
-- Every import is a new row; the row with the highest version is the model in force. Rows are
-- never changed, so a version number names one document for good (servers sharing a database
-- compare version numbers to know when to reload).
CREATE TABLE access_documents (
    version      BIGINT PRIMARY KEY NOT NULL CHECK (version > 0),
    document     TEXT NOT NULL,
    imported_by  TEXT NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL
);

-- A right exercised on an object (a case, an invoice) by a user, recorded by an allowed decision
-- sent with `record: true`. person: the user's person, when the user is one.
CREATE TABLE access_exercises (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    person   TEXT,
    access_right TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_exercises_object ON access_exercises (object, id);
