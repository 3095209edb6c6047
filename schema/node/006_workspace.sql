-- 006_workspace.sql (issue 14, the district office's workspace; the number
-- is provisional). Code labels in Bahasa Indonesia for stores made before
-- the reference lists said so (schema/reference/disease.csv), and indexes
-- for the case page (a case's messages) and the work queues.
UPDATE code_list SET label_id = 'flu burung'
 WHERE list = 'disease' AND code = 'AI' AND label_id = 'avian influenza';
UPDATE code_list SET label_id = 'keluron menular (brucellosis)'
 WHERE list = 'disease' AND code = 'BRU' AND label_id = 'brucellosis';
CREATE INDEX sms_in_ref ON sms_in (ref) WHERE ref IS NOT NULL;
-- the work queues: priority cases by age, refused changes
CREATE INDEX case_report_p ON case_report (created_at) WHERE kind = 'P' AND deleted = 0;
CREATE INDEX outbox_refused ON outbox (seq) WHERE state = 2;
