-- Why: graph state is writable through the API (state updates, commands, copies, forks), so it cannot
-- prove that a person approved a call. The tool that needs approval now runs only when this table
-- holds a decision for that exact call: bound to its call id and to a digest of the tool and the
-- canonical arguments the reviewer approved (or edited to), and consumed by the one run that executes it.
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS call_id TEXT;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS args_digest TEXT;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS decided_args JSONB;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS decided_digest TEXT;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS consumed_by_run UUID;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS consumed_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS approvals_call_idx ON approvals (thread_id, call_id);

-- Approvals recorded before this migration: their call id is in the thread's pending interrupt.
UPDATE approvals a SET call_id = i.value -> 'value' ->> 'call_id'
FROM threads t,
     jsonb_each(CASE WHEN jsonb_typeof(t.interrupts) = 'object' THEN t.interrupts ELSE '{}' END) e,
     jsonb_array_elements(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value ELSE '[]' END) i
WHERE a.call_id IS NULL AND t.thread_id = a.thread_id AND i.value ->> 'id' = a.interrupt_id;
