-- The entries the FX report reads besides fx_conversions: chargebacks that
-- unwound a conversion (chargeback.conversion) and reversals, among them
-- won chargebacks putting one back (reconcile.fxChargebackReversals). Both
-- kinds are rare, so the index stays small and the hot path of ordinary
-- entries never writes to it; without it a year's report read every entry
-- of the tenant in the period.
CREATE INDEX IF NOT EXISTS ledger_entries_fx_unwinds ON ledger_entries (tenant_id, created_at) WHERE kind IN ('chargeback.conversion', 'reversal');
