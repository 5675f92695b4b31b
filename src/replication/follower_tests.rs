use super::*;

fn session() -> FetchSession {
    let mut s = FetchSession::new(1_000);
    s.follow("t", Uuid::nil(), 0, 5);
    s.follow("t", Uuid::nil(), 1, 5);
    s
}

fn local(log_end: i64, epoch: Option<i32>) -> impl Fn(&str, i32) -> Option<LocalLog> {
    move |_, _| {
        Some(LocalLog {
            log_start: 0,
            log_end,
            latest_epoch: epoch,
        })
    }
}

fn ok(hw: i64) -> Reply {
    Reply {
        error_code: 0,
        high_watermark: hw,
        log_start_offset: 0,
        diverging: None,
    }
}

#[test]
fn the_request_asks_from_the_durable_end_with_the_last_epoch() {
    let plans = session().plan(0, local(42, Some(3)));
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0].fetch_offset, 42);
    assert_eq!(plans[0].last_fetched_epoch, 3);
    assert_eq!(plans[0].current_leader_epoch, 5);
    let empty = session().plan(0, local(0, None));
    assert_eq!(empty[0].last_fetched_epoch, -1);
}

#[test]
fn data_is_appended_and_the_high_watermark_taken() {
    let mut s = session();
    let plan = s.plan(0, local(42, Some(3))).remove(0);
    assert_eq!(
        s.on_reply(&plan, &ok(50), 0, |_| None),
        Step::Append { high_watermark: 50 }
    );
    assert_eq!(s.get("t", 0).map(|f| f.leader_high_watermark), Some(50));
    assert_eq!(s.get("t", 1).map(|f| f.leader_high_watermark), Some(-1));
}

#[test]
fn divergence_truncates_to_the_lower_end_of_a_shared_epoch() {
    let mut s = session();
    let plan = s.plan(0, local(120, Some(3))).remove(0);
    let reply = Reply {
        diverging: Some((3, 100)),
        ..ok(90)
    };
    assert_eq!(
        s.on_reply(&plan, &reply, 0, |e| (e == 3).then_some((3, 120))),
        Step::Truncate { offset: 100 }
    );
    // Our run of epoch 3 ended first (we moved to 4 at 95).
    assert_eq!(
        s.on_reply(&plan, &reply, 0, |_| Some((3, 95))),
        Step::Truncate { offset: 95 }
    );
}

#[test]
fn an_epoch_we_never_had_truncates_to_our_nearest_lower_one_only() {
    let mut s = session();
    let plan = s.plan(0, local(120, Some(4))).remove(0);
    let reply = Reply {
        diverging: Some((3, 100)),
        ..ok(90)
    };
    // We have epochs 2 (to 95) and 4: go back to 95 and ask again.
    assert_eq!(
        s.on_reply(&plan, &reply, 0, |_| Some((2, 95))),
        Step::Truncate { offset: 95 }
    );
    assert_eq!(
        s.on_reply(&plan, &reply, 0, |_| None),
        Step::Truncate { offset: 100 }
    );
}

#[test]
fn below_the_leaders_log_start_the_log_restarts_there() {
    let mut s = session();
    let plan = s.plan(0, local(10, Some(1))).remove(0);
    let reply = Reply {
        error_code: ResponseError::OffsetOutOfRange.code(),
        log_start_offset: 500,
        ..ok(600)
    };
    assert_eq!(
        s.on_reply(&plan, &reply, 0, |_| None),
        Step::Restart { start: 500 }
    );
}

#[test]
fn errors_back_off_until_a_new_epoch_arrives() {
    let mut s = session();
    let plan = s.plan(0, local(10, Some(1))).remove(0);
    let reply = Reply {
        error_code: ResponseError::FencedLeaderEpoch.code(),
        ..ok(-1)
    };
    assert_eq!(s.on_reply(&plan, &reply, 100, |_| None), Step::Backoff);
    assert_eq!(s.plan(500, local(10, Some(1))).len(), 1, "only partition 1");
    assert_eq!(s.plan(1_100, local(10, Some(1))).len(), 2);
    assert_eq!(s.on_reply(&plan, &reply, 2_000, |_| None), Step::Backoff);
    s.follow("t", Uuid::nil(), 0, 6);
    assert_eq!(s.plan(2_001, local(10, Some(1))).len(), 2);
    // An answer for the old epoch is stale.
    assert_eq!(s.on_reply(&plan, &ok(10), 2_001, |_| None), Step::Backoff);
}
