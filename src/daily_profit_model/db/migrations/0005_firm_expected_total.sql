-- The firm's expected total: the account forecasts (conditional medians under an L1-like
-- loss) plus the mean daily total error of past days, scaled to today's interval widths.
-- A sum of medians is not the expected sum when most accounts lose a little and a few
-- win a lot; risk managers need the expectation.
ALTER TABLE firm_forecasts ADD COLUMN expected_total double precision;
