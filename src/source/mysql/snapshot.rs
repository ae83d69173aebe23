//! One point in time for every table, even with parallel connections. The way mydumper
//! and MySQL Shell do it: take FLUSH TABLES WITH READ LOCK on one connection (which needs
//! the RELOAD privilege), start `WITH CONSISTENT SNAPSHOT` transactions on all of them
//! while writes are blocked, note the binlog position, unlock. The lock is held for
//! milliseconds. Without the privilege, the export falls back to a single connection and
//! a single transaction, which is just as consistent, only not parallel; the manifest
//! says which method was used.

use mysql::Conn;
use mysql::prelude::Queryable;

use super::ServerInfo;
use crate::dburl::DbUrl;
use crate::dump::manifest::Snapshot;
use crate::error::{Result, ResultExt};
use crate::source::SourceTable;

const START: &str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

/// Storage engines whose reads are part of a transaction snapshot.
fn is_transactional(engine: Option<&str>) -> bool {
    matches!(
        engine.map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("innodb") | Some("xtradb") | Some("rocksdb") | Some("tokudb") | None
    )
}

/// Opens `jobs` connections that all see the same snapshot; the first one is `first`.
pub(super) fn open(
    url: &DbUrl,
    first: Conn,
    server: &ServerInfo,
    jobs: usize,
    tables: &[SourceTable],
) -> Result<(Vec<Conn>, Snapshot)> {
    let mut info = Snapshot {
        non_transactional_tables: tables
            .iter()
            .filter(|t| !is_transactional(t.schema.engine.as_deref()))
            .map(|t| t.schema.name.clone())
            .collect(),
        ..Snapshot::default()
    };
    let mut conns = vec![first];
    if jobs > 1 {
        for _ in 1..jobs {
            conns.push(super::connect(url)?);
        }
        let lock = conns[0]
            .query_drop("SET SESSION lock_wait_timeout = 60")
            .and_then(|_| conns[0].query_drop("FLUSH TABLES WITH READ LOCK"));
        match lock {
            Ok(()) => {
                for (i, c) in conns.iter_mut().enumerate() {
                    c.query_drop(START)
                        .ctx(|| format!("starting the snapshot on connection {}", i + 1))?;
                }
                read_binlog_position(&mut conns[0], server, &mut info);
                conns[0]
                    .query_drop("UNLOCK TABLES")
                    .ctx(|| "releasing the global read lock".into())?;
                info.method = "global_read_lock".into();
            }
            Err(e) => {
                info.notes.push(format!(
                    "FLUSH TABLES WITH READ LOCK was refused ({}); exported with one \
                     connection in one transaction instead of {jobs}",
                    super::describe(&e)
                ));
                conns.truncate(1);
            }
        }
    }
    if conns.len() == 1 {
        conns[0]
            .query_drop(START)
            .ctx(|| "starting the snapshot transaction".into())?;
        if server.is_mariadb() {
            // MariaDB reports the binlog position that matches this transaction's snapshot.
            let rows: Vec<(String, String)> = conns[0]
                .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                .unwrap_or_default();
            for (k, v) in rows {
                match k.as_str() {
                    "Binlog_snapshot_file" if !v.is_empty() => info.binlog_file = Some(v),
                    "Binlog_snapshot_position" => info.binlog_position = v.parse().ok(),
                    _ => {}
                }
            }
            if info.binlog_file.is_none() {
                info.binlog_position = None;
            }
        } else {
            info.notes.push(
                "binlog position not recorded: MySQL reports it consistently only under \
                 the global read lock"
                    .into(),
            );
        }
        info.method = "single_transaction".into();
    }
    info.consistent = info.non_transactional_tables.is_empty();
    if !info.consistent {
        info.notes
            .push("tables with a non-transactional engine were read outside the snapshot".into());
    }
    Ok((conns, info))
}

fn read_binlog_position(conn: &mut Conn, server: &ServerInfo, info: &mut Snapshot) {
    // MySQL 8.4 renamed the statement; either may be refused without REPLICATION CLIENT.
    for stmt in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        if let Ok(Some(row)) = conn.query_first::<mysql::Row, _>(stmt) {
            info.binlog_file = row.get_opt::<String, _>(0).and_then(|r| r.ok());
            info.binlog_position = row.get_opt::<u64, _>(1).and_then(|r| r.ok());
            break;
        }
    }
    let gtid_sql = if server.is_mariadb() {
        "SELECT @@GLOBAL.gtid_binlog_pos"
    } else {
        "SELECT @@GLOBAL.gtid_executed"
    };
    if let Ok(Some(Some(g))) = conn.query_first::<Option<String>, _>(gtid_sql)
        && !g.trim().is_empty()
    {
        info.gtid = Some(g.trim().replace('\n', ""));
    }
}
