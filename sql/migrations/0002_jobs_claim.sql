-- The token of the run that claimed a job: only that run may finish it, so
-- a job rescheduled while it runs is not marked done by the old run.
ALTER TABLE jobs ADD COLUMN claim UUID;
