-- Why: the LangGraph Server API keeps every version of an assistant. PATCH writes a new version, POST
-- /assistants/{id}/versions lists them newest first and POST /assistants/{id}/latest makes an older one
-- active again (Studio's version picker and `client.assistants.set_latest` rely on it). `assistants` keeps
-- the active version's fields (what GET answers and what runs and crons read); this table holds every
-- version, the active one included. Existing assistants are backfilled with their current row as the only
-- version history there is.
CREATE TABLE IF NOT EXISTS assistant_versions (
    assistant_id UUID NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    version      INT NOT NULL,
    graph_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    config       JSONB NOT NULL DEFAULT '{}',
    context      JSONB NOT NULL DEFAULT '{}',
    metadata     JSONB NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (assistant_id, version)
);

INSERT INTO assistant_versions (assistant_id, version, graph_id, name, description, config, context, metadata, created_at)
SELECT assistant_id, version, graph_id, name, description, config, context, metadata, updated_at FROM assistants
ON CONFLICT (assistant_id, version) DO NOTHING;
