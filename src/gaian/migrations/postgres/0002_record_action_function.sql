-- One action in one call (one round trip, the statement's implicit transaction), so a request
-- costs PostgreSQL what pgbench's insert-and-update does. gaian_reward is Rule::reward
-- (src/gaian/rules.rs) in SQL: integer micro-SILA, rounded down at each decay step, then the
-- daily cap; numeric stands in for Rust's i128. A test compares the two over a grid of inputs.
CREATE FUNCTION gaian_reward(
    base bigint, multiplier bigint, decay bigint, daily_cap bigint,
    quantity bigint, nth bigint, earned_today bigint,
    OUT micro bigint, OUT capped boolean)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    value numeric := div(base::numeric * multiplier, 1000000) * quantity;
    step bigint := 1;
    full_reward bigint;
    room bigint;
BEGIN
    WHILE step < nth AND value > 0 AND decay <> 1000000 LOOP
        value := div(value * decay, 1000000);
        step := step + 1;
    END LOOP;
    full_reward := least(value, 1000000000000000);
    IF daily_cap IS NULL THEN
        micro := full_reward;
        capped := false;
    ELSE
        room := greatest(daily_cap - earned_today, 0);
        micro := least(full_reward, room);
        capped := full_reward > room;
    END IF;
END
$$;

-- Counts the action in today's counter row first (locking it, so one player's same action is
-- serialised), computes the reward from it, then adds it to the balance (locking the player
-- row: balance_after is the running balance in ledger-id order), inserts the ledger row and
-- adds it to the counter. A reused idempotency key fails the ledger insert on its unique
-- constraint and everything rolls back.
CREATE FUNCTION gaian_record_action(
    p_player text, p_action text, p_quantity bigint, p_day text, p_created_at text,
    p_key text, p_request text, p_metadata text,
    p_base bigint, p_multiplier bigint, p_decay bigint, p_cap bigint,
    OUT ledger_id bigint, OUT balance_after bigint, OUT reward bigint, OUT was_capped boolean,
    OUT day_count bigint, OUT day_reward bigint)
LANGUAGE plpgsql AS $$
DECLARE
    earned bigint;
BEGIN
    INSERT INTO daily_totals AS d (player_id, day, action, count, reward_micro)
    VALUES (p_player, p_day, p_action, 1, 0)
    ON CONFLICT (player_id, day, action) DO UPDATE SET count = d.count + 1
    RETURNING d.count, d.reward_micro INTO day_count, earned;
    SELECT r.micro, r.capped INTO reward, was_capped
    FROM gaian_reward(p_base, p_multiplier, p_decay, p_cap, p_quantity, day_count, earned) AS r;
    INSERT INTO players AS p (player_id, balance_micro, created_at)
    VALUES (p_player, reward, p_created_at)
    ON CONFLICT (player_id) DO UPDATE SET balance_micro = p.balance_micro + excluded.balance_micro
    RETURNING p.balance_micro INTO balance_after;
    INSERT INTO ledger (player_id, action, quantity, reward_micro, balance_after_micro, capped,
                        day, created_at, idempotency_key, request, metadata)
    VALUES (p_player, p_action, p_quantity, reward, balance_after, was_capped,
            p_day, p_created_at, p_key, p_request, p_metadata)
    RETURNING id INTO ledger_id;
    UPDATE daily_totals AS d SET reward_micro = d.reward_micro + reward
    WHERE d.player_id = p_player AND d.day = p_day AND d.action = p_action;
    day_reward := earned + reward;
END
$$;
