-- Group commit: many actions in one call and one transaction, so the commit rate no longer
-- caps the action rate. The actions are applied one after the other in array order, each
-- exactly as gaian_record_action (0003) applies one, so a batch gives what sequential calls
-- give: a later action of the same player sees the earlier one's counter and balance, and a
-- key used earlier in the batch is a duplicate like a key used in an earlier transaction.
--
-- Each action runs in its own exception block (a subtransaction): a constraint or rule
-- failure rolls back that action alone and is reported in its row; the others commit.
-- Gaian keeps batches at or under 64 actions, the number of subtransactions a backend
-- tracks without overflowing its cache (beyond it, every snapshot in the cluster slows down).
--
-- One row per action, in order: outcome 'recorded' (with what 0003 returns), 'duplicate'
-- (the idempotency key is already in the ledger: Gaian answers from that row after the
-- commit) or 'failed' (with the SQLSTATE; nothing of that action was written).
CREATE FUNCTION gaian_record_actions(
    p_players text[], p_actions text[], p_quantities bigint[], p_days text[],
    p_created_at text[], p_keys text[], p_requests text[], p_metadata text[],
    p_base bigint[], p_multiplier bigint[], p_decay bigint[], p_cap bigint[])
RETURNS TABLE (o_outcome text, o_ledger_id bigint, o_balance_after bigint, o_reward bigint,
               o_capped boolean, o_day_count bigint, o_day_reward bigint, o_error text)
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    earned bigint;
BEGIN
    FOR a IN
        SELECT * FROM unnest(p_players, p_actions, p_quantities, p_days, p_created_at, p_keys,
                             p_requests, p_metadata, p_base, p_multiplier, p_decay, p_cap)
            WITH ORDINALITY AS t(player, action, quantity, day, created_at, key, request,
                                 metadata, base, multiplier, decay, cap, n)
        ORDER BY n
    LOOP
        o_ledger_id := NULL; o_balance_after := NULL; o_reward := NULL; o_capped := NULL;
        o_day_count := NULL; o_day_reward := NULL; o_error := NULL;
        -- Checked before the subtransaction: a replay writes nothing and costs no savepoint.
        IF a.key IS NOT NULL AND EXISTS (SELECT 1 FROM ledger WHERE idempotency_key = a.key) THEN
            o_outcome := 'duplicate';
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            INSERT INTO daily_totals AS d (player_id, day, action, count, reward_micro)
            VALUES (a.player, a.day, a.action, 1, 0)
            ON CONFLICT (player_id, day, action) DO UPDATE SET count = d.count + 1
            RETURNING d.count, d.reward_micro INTO o_day_count, earned;
            SELECT r.micro, r.capped INTO o_reward, o_capped
            FROM gaian_reward(a.base, a.multiplier, a.decay, a.cap, a.quantity, o_day_count,
                              earned) AS r;
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
        EXCEPTION
            -- Another transaction took the key after the check above: a duplicate too.
            WHEN unique_violation THEN
                o_outcome := 'duplicate';
                o_ledger_id := NULL; o_balance_after := NULL; o_reward := NULL;
                o_capped := NULL; o_day_count := NULL; o_day_reward := NULL;
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
