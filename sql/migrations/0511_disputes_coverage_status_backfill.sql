-- Coverage booked before 0510 was paid at once.
UPDATE disputes SET coverage_status = 'completed' WHERE covered_amount > 0 AND coverage_status IS NULL;
