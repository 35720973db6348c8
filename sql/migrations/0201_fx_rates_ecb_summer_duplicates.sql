-- Before 7d9892f, ParseECB dated every ECB set at 15:00 UTC (16:00 CET);
-- since then a summer feed is dated 16:00 CEST, 14:00 UTC. A summer feed
-- stored before and imported again after the upgrade is stored twice, and
-- LatestRate serves the old row, an hour "newer" than the publication.
-- This migration and 0202 re-date the old rows: ECB rows (source 'ecb')
-- at 15:00 UTC on a day of Frankfurt summer time, i.e. at 17:00 in
-- Europe/Berlin. Both conditions are written out: at 15:00 UTC in winter
-- Berlin reads 16:00, and 17:00 Berlin in winter is 16:00 UTC, which no
-- ECB import ever produced.
--
-- First the old rows whose re-dated twin (same tenant, pair, source and
-- rate, an hour earlier) a re-import has already stored: the twin stays,
-- the old row goes, so that 0202 does not collide with the primary key.
-- An old row whose twin has another rate is neither deleted here nor
-- re-dated by 0202 (both can only come from a CSV or JSON import that
-- named its source 'ecb'); an operator finds them with the WHERE clause
-- below without the rate condition.
--
-- AT TIME ZONE on a TIMESTAMPTZ, the ::TIME cast and correlated EXISTS
-- are PostgreSQL's and CockroachDB's alike (CockroachDB reads x AT TIME
-- ZONE z as timezone(z, x), which returns a TIMESTAMP; both take the IANA
-- zone names). One statement, one transaction (see internal/db/migrate.go).
DELETE FROM fx_rates
	WHERE source = 'ecb'
		AND (as_of AT TIME ZONE 'UTC')::TIME = TIME '15:00:00'
		AND (as_of AT TIME ZONE 'Europe/Berlin')::TIME = TIME '17:00:00'
		AND EXISTS (
			SELECT 1 FROM fx_rates AS twin
			WHERE twin.tenant_id = fx_rates.tenant_id AND twin.base = fx_rates.base AND twin.quote = fx_rates.quote
				AND twin.source = fx_rates.source AND twin.as_of = fx_rates.as_of - INTERVAL '1 hour'
				AND twin.rate = fx_rates.rate);
