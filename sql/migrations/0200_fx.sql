-- FX: reference rates imported by each tenant's finance team, quotes with
-- expiry, per-tenant spread settings and booked conversions.

-- One rate: 1 base = rate quote, as of as_of, from source. A published rate
-- never changes: re-importing the same key with the same rate is a no-op,
-- with another rate it is refused (fx.ErrRateConflict).
CREATE TABLE fx_rates (
	tenant_id UUID NOT NULL,
	base TEXT NOT NULL CHECK (length(base) = 3),
	quote TEXT NOT NULL CHECK (length(quote) = 3),
	as_of TIMESTAMPTZ NOT NULL,
	source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 32),
	rate NUMERIC NOT NULL CHECK (rate > 0),
	imported_at TIMESTAMPTZ NOT NULL,
	CHECK (base <> quote),
	PRIMARY KEY (tenant_id, base, quote, as_of, source)
);

-- Rates by quote currency (inverse lookups) and the tenant's newest set.
CREATE INDEX fx_rates_tenant_quote ON fx_rates (tenant_id, quote, base, as_of);

CREATE INDEX fx_rates_tenant_as_of ON fx_rates (tenant_id, as_of);

-- A priced quote. The customer pays sell_amount of sell_currency and
-- receives buy_amount of buy_currency; consumed once (used_at, used_by).
CREATE TABLE fx_quotes (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	sell_currency TEXT NOT NULL CHECK (length(sell_currency) = 3),
	buy_currency TEXT NOT NULL CHECK (length(buy_currency) = 3),
	sell_amount NUMERIC NOT NULL CHECK (sell_amount > 0),
	buy_amount NUMERIC NOT NULL CHECK (buy_amount > 0),
	fixed_side TEXT NOT NULL CHECK (fixed_side IN ('sell', 'buy')),
	mid_rate NUMERIC NOT NULL CHECK (mid_rate > 0),
	rate NUMERIC NOT NULL CHECK (rate > 0 AND rate <= mid_rate),
	spread_bps INT8 NOT NULL CHECK (spread_bps BETWEEN 0 AND 1000),
	spread_amount NUMERIC NOT NULL CHECK (spread_amount >= 0),
	rate_source TEXT NOT NULL,
	rate_as_of TIMESTAMPTZ NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	used_at TIMESTAMPTZ,
	used_by TEXT,
	CHECK (sell_currency <> buy_currency),
	CHECK (expires_at > created_at),
	CHECK ((used_at IS NULL) = (used_by IS NULL))
);

CREATE INDEX fx_quotes_tenant ON fx_quotes (tenant_id, id);

-- Per-tenant FX settings; a tenant without a row uses the configured
-- default spread.
CREATE TABLE fx_settings (
	tenant_id UUID PRIMARY KEY,
	spread_bps INT8 NOT NULL CHECK (spread_bps BETWEEN 0 AND 1000),
	updated_at TIMESTAMPTZ NOT NULL
);

-- A booked conversion: one per quote. spread_amount went to
-- fx:revenue:<buy>, rounding_amount (signed: > 0 gain, < 0 loss) to
-- fx:rounding:<buy>; clearing_amount = buy_amount + spread_amount +
-- rounding_amount was debited to fx:<buy>.
CREATE TABLE fx_conversions (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	quote_id UUID NOT NULL,
	entry_id UUID NOT NULL,
	reference TEXT NOT NULL,
	from_account_id UUID NOT NULL,
	to_account_id UUID NOT NULL,
	sell_currency TEXT NOT NULL,
	buy_currency TEXT NOT NULL,
	sell_amount NUMERIC NOT NULL CHECK (sell_amount > 0),
	buy_amount NUMERIC NOT NULL CHECK (buy_amount > 0),
	mid_rate NUMERIC NOT NULL CHECK (mid_rate > 0),
	rate NUMERIC NOT NULL CHECK (rate > 0),
	clearing_amount NUMERIC NOT NULL CHECK (clearing_amount > 0),
	spread_amount NUMERIC NOT NULL CHECK (spread_amount >= 0),
	rounding_amount NUMERIC NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	CHECK (clearing_amount = buy_amount + spread_amount + rounding_amount),
	UNIQUE (tenant_id, quote_id)
);

CREATE INDEX fx_conversions_tenant_created ON fx_conversions (tenant_id, created_at);
