-- As 0510, plus voided: a chargeback booked while the coverage waited for
-- review voided it (the card network paid the buyer): nothing moved, its
-- review was closed as superseded.
ALTER TABLE disputes ADD CONSTRAINT disputes_coverage_status CHECK (coverage_status IN ('completed', 'pending_review', 'blocked', 'rejected', 'voided'));
