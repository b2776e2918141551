-- The batch function of 0004, leaner per action: measured with pg_stat_statements under the
-- bench's load, calling gaian_reward (a PL/pgSQL function through a query) was the costliest
-- statement of an action, dearer than the ledger insert, and resetting the eight outputs
-- before every action cost more than the idempotency check. The reward is now computed in
-- place with the same integer steps as gaian_reward (0002; Rule::reward in Rust), and the
-- outputs are cleared only where an action is not recorded. Semantics are those of 0004.
CREATE OR REPLACE FUNCTION gaian_record_actions(
    p_players text[], p_actions text[], p_quantities bigint[], p_days text[],
    p_created_at text[], p_keys text[], p_requests text[], p_metadata text[],
    p_base bigint[], p_multiplier bigint[], p_decay bigint[], p_cap bigint[])
RETURNS TABLE (o_outcome text, o_ledger_id bigint, o_balance_after bigint, o_reward bigint,
               o_capped boolean, o_day_count bigint, o_day_reward bigint, o_error text)
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    earned bigint;
    value numeric;
    step bigint;
    room bigint;
BEGIN
    FOR a IN
        SELECT * FROM unnest(p_players, p_actions, p_quantities, p_days, p_created_at, p_keys,
                             p_requests, p_metadata, p_base, p_multiplier, p_decay, p_cap)
            WITH ORDINALITY AS t(player, action, quantity, day, created_at, key, request,
                                 metadata, base, multiplier, decay, cap, n)
        ORDER BY n
    LOOP
        -- Checked before the subtransaction: a replay writes nothing and costs no savepoint.
        IF a.key IS NOT NULL AND EXISTS (SELECT 1 FROM ledger WHERE idempotency_key = a.key) THEN
            o_outcome := 'duplicate';
            o_ledger_id := NULL; o_balance_after := NULL; o_reward := NULL; o_capped := NULL;
            o_day_count := NULL; o_day_reward := NULL; o_error := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            INSERT INTO daily_totals AS d (player_id, day, action, count, reward_micro)
            VALUES (a.player, a.day, a.action, 1, 0)
            ON CONFLICT (player_id, day, action) DO UPDATE SET count = d.count + 1
            RETURNING d.count, d.reward_micro INTO o_day_count, earned;
            -- gaian_reward, step for step: the n-th action of the day earns the value
            -- decayed n-1 times, rounded down at each step, then limited by the daily cap.
            value := div(a.base::numeric * a.multiplier, 1000000) * a.quantity;
            step := 1;
            WHILE step < o_day_count AND value > 0 AND a.decay <> 1000000 LOOP
                value := div(value * a.decay, 1000000);
                step := step + 1;
            END LOOP;
            o_reward := least(value, 1000000000000000);
            IF a.cap IS NULL THEN
                o_capped := false;
            ELSE
                room := greatest(a.cap - earned, 0);
                o_capped := o_reward > room;
                o_reward := least(o_reward, room);
            END IF;
            INSERT INTO players AS p (player_id, balance_micro, created_at)
            VALUES (a.player, o_reward, a.created_at)
            ON CONFLICT (player_id) DO UPDATE
                SET balance_micro = p.balance_micro + excluded.balance_micro
            RETURNING p.balance_micro INTO o_balance_after;
            INSERT INTO ledger (player_id, action, quantity, reward_micro, balance_after_micro,
                                capped, day, created_at, idempotency_key, request, metadata)
            VALUES (a.player, a.action, a.quantity, o_reward, o_balance_after, o_capped,
                    a.day, a.created_at, a.key, a.request, a.metadata)
            RETURNING id INTO o_ledger_id;
            UPDATE daily_totals AS d SET reward_micro = d.reward_micro + o_reward
            WHERE d.player_id = a.player AND d.day = a.day AND d.action = a.action;
            o_day_reward := earned + o_reward;
            o_outcome := 'recorded';
            o_error := NULL;
        EXCEPTION
            -- Another transaction took the key after the check above: a duplicate too.
            WHEN unique_violation THEN
                o_outcome := 'duplicate';
                o_ledger_id := NULL; o_balance_after := NULL; o_reward := NULL;
                o_capped := NULL; o_day_count := NULL; o_day_reward := NULL; o_error := NULL;
            WHEN OTHERS THEN
                o_outcome := 'failed';
                o_error := SQLSTATE || ': ' || SQLERRM;
                o_ledger_id := NULL; o_balance_after := NULL; o_reward := NULL;
                o_capped := NULL; o_day_count := NULL; o_day_reward := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;
