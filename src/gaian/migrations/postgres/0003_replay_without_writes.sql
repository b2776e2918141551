-- A replayed idempotency key is answered before anything is locked or written: migration
-- 0002's function counted the action, updated the balance and only then failed on the
-- ledger's unique key, so a retry storm held the player's rows and wrote WAL for nothing.
-- The check raises the same unique_violation the insert would; Gaian then answers from the
-- row that holds the key. Two first uses racing each other still meet at the constraint.
CREATE OR REPLACE FUNCTION gaian_record_action(
    p_player text, p_action text, p_quantity bigint, p_day text, p_created_at text,
    p_key text, p_request text, p_metadata text,
    p_base bigint, p_multiplier bigint, p_decay bigint, p_cap bigint,
    OUT ledger_id bigint, OUT balance_after bigint, OUT reward bigint, OUT was_capped boolean,
    OUT day_count bigint, OUT day_reward bigint)
LANGUAGE plpgsql AS $$
DECLARE
    earned bigint;
BEGIN
    IF p_key IS NOT NULL AND EXISTS (SELECT 1 FROM ledger WHERE idempotency_key = p_key) THEN
        RAISE unique_violation USING
            MESSAGE = 'idempotency key already used',
            CONSTRAINT = 'ledger_idempotency_key_unique';
    END IF;
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
