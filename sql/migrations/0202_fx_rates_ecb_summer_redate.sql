-- Re-date the ECB rows stored before 7d9892f on days of Frankfurt summer
-- time from 15:00 UTC to the publication time ParseECB gives them now,
-- 16:00 CEST = 14:00 UTC (see 0201, which deleted those already stored
-- again at 14:00 with the same rate). A row whose 14:00 twin holds another
-- rate is left as it is: moving it would collide with the twin's key.
-- Nothing else collides within the statement: the rows moved have
-- distinct keys and all move by one hour, and a target at 14:00 UTC is
-- not itself a row being moved (those are at 15:00 UTC).
--
-- Quotes keep the rate_as_of they were priced with: it is what they were
-- shown. Stop the old binaries first: one still running could store a
-- summer feed at 15:00 UTC after this ran.
UPDATE fx_rates SET as_of = as_of - INTERVAL '1 hour'
	WHERE source = 'ecb'
		AND (as_of AT TIME ZONE 'UTC')::TIME = TIME '15:00:00'
		AND (as_of AT TIME ZONE 'Europe/Berlin')::TIME = TIME '17:00:00'
		AND NOT EXISTS (
			SELECT 1 FROM fx_rates AS twin
			WHERE twin.tenant_id = fx_rates.tenant_id AND twin.base = fx_rates.base AND twin.quote = fx_rates.quote
				AND twin.source = fx_rates.source AND twin.as_of = fx_rates.as_of - INTERVAL '1 hour');
