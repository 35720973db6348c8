-- coverage_status gains 'voided' (0517): the CHECK of 0510 goes, under
-- PostgreSQL's name for a column's CHECK and under CockroachDB's.
ALTER TABLE disputes DROP CONSTRAINT IF EXISTS disputes_coverage_status_check;
ALTER TABLE disputes DROP CONSTRAINT IF EXISTS check_coverage_status;
