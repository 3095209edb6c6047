-- 006_workspace.sql (issue 14, the district office's workspace; the number
-- is provisional). Code labels in Bahasa Indonesia for stores made before
-- the reference lists said so (schema/reference/disease.csv), and indexes
-- for the case page and the work queues: a case's follow-ups and messages.
UPDATE code_list SET label_id = 'flu burung'
 WHERE list = 'disease' AND code = 'AI' AND label_id = 'avian influenza';
UPDATE code_list SET label_id = 'keluron menular (brucellosis)'
 WHERE list = 'disease' AND code = 'BRU' AND label_id = 'brucellosis';
CREATE INDEX IF NOT EXISTS sms_in_record ON sms_in (record_id) WHERE record_id IS NOT NULL;
