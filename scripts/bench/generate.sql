-- waybill benchmark data set, generated inside MariaDB (10.5+: Sequence engine, JSON
-- functions, RANDOM_BYTES). Run in an empty database with @scale set first:
--
--   { echo 'SET @scale = 1;'; cat scripts/bench/generate.sql; } | mariadb ... waybill_bench
--
-- SCALE 1 is about 200,000 rows and about 100 MB of CSV; rows and bytes grow linearly
-- with @scale. Everything except the blob payloads is a pure function of the row number
-- (ids are MD5-derived UUIDs), so two runs at one scale produce the same data apart from
-- the random bytes, which have the same lengths.
--
-- The tables are the kinds of data that make MySQL-to-PostgreSQL moves awkward:
--   authorization_policy  wide rows keyed by char(36) UUIDs, a JSON column, datetime and
--                         timestamp, and a parent_id char(36) that is '' (not NULL) for
--                         root rows ("empty parents") and otherwise names another row;
--   document_blob         binary payloads of 256 B to 4 KiB, a binary(20) digest;
--   ledger_entry          numeric ledger, bigint unsigned AUTO_INCREMENT key,
--                         decimal(20,4) amounts, tinyint(1) flag, dates;
--   awkward_text          commas, double quotes, CR/LF, tabs, backslashes, emoji, the
--                         literal strings NULL and \N, empty strings, real NULLs.
--
-- Special characters are written as CHAR(n USING utf8mb4) so the file means the same
-- whatever the sql_mode (NO_BACKSLASH_ESCAPES or not): 9 tab, 10 LF, 13 CR, 34 double
-- quote, 92 backslash.

SET NAMES utf8mb4;
SET time_zone = '+00:00';
-- The benchmark data need not reach the binary log (the waybill user has SUPER).
SET SESSION sql_log_bin = 0;
SET @scale = IFNULL(@scale, 1);
SET @policies = 40000 * @scale;
SET @blobs = 9000 * @scale;
SET @ledger = 120000 * @scale;
SET @awkward = 30000 * @scale;

DROP TABLE IF EXISTS authorization_policy, document_blob, ledger_entry, awkward_text;
DROP FUNCTION IF EXISTS bench_uuid;

-- A UUID (version 4 layout) derived from a kind and a number: stable across runs.
CREATE FUNCTION bench_uuid(kind VARCHAR(16), n BIGINT) RETURNS CHAR(36) DETERMINISTIC
    RETURN (SELECT CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4),
                             CONCAT('4', SUBSTR(h, 14, 3)),
                             CONCAT(SUBSTR('89ab', 1 + CONV(SUBSTR(h, 17, 1), 16, 10) % 4, 1),
                                    SUBSTR(h, 18, 3)),
                             SUBSTR(h, 21, 12))
            FROM (SELECT MD5(CONCAT(kind, ':', n)) AS h) AS d);

CREATE TABLE authorization_policy (
    id            CHAR(36)     NOT NULL,
    parent_id     CHAR(36)     NOT NULL DEFAULT '' COMMENT 'empty string for root policies',
    tenant_id     CHAR(36)     NOT NULL,
    name          VARCHAR(255) NOT NULL,
    description   TEXT         NULL,
    resource      VARCHAR(512) NOT NULL,
    actions       VARCHAR(255) NOT NULL,
    effect        ENUM('allow', 'deny') NOT NULL DEFAULT 'allow',
    conditions    JSON         NULL,
    priority      INT          NOT NULL DEFAULT 0,
    is_enabled    TINYINT(1)   NOT NULL DEFAULT 1,
    created_by    VARCHAR(64)  NOT NULL,
    created_at    DATETIME     NOT NULL,
    updated_at    TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    expires_at    DATETIME     NULL,
    PRIMARY KEY (id),
    KEY idx_policy_parent (parent_id),
    KEY idx_policy_tenant (tenant_id, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE document_blob (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT,
    policy_id    CHAR(36)     NOT NULL,
    file_name    VARCHAR(255) NOT NULL,
    mime_type    VARCHAR(100) NOT NULL,
    sha1         BINARY(20)   NOT NULL,
    content      MEDIUMBLOB   NOT NULL,
    uploaded_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    KEY idx_blob_policy (policy_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE ledger_entry (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    account_id   INT UNSIGNED    NOT NULL,
    entry_date   DATE            NOT NULL,
    value_date   DATE            NULL,
    amount       DECIMAL(20,4)   NOT NULL,
    balance      DECIMAL(20,4)   NOT NULL,
    fx_rate      DECIMAL(12,6)   NULL,
    currency     CHAR(3)         NOT NULL,
    is_reversal  TINYINT(1)      NOT NULL DEFAULT 0,
    posted_at    DATETIME(6)     NOT NULL,
    memo         VARCHAR(64)     NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY idx_ledger_account (account_id, entry_date)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE awkward_text (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
    kind        VARCHAR(32)  NOT NULL,
    label       VARCHAR(255) NOT NULL DEFAULT '',
    body        MEDIUMTEXT   NOT NULL,
    note        VARCHAR(255) NULL,
    created_at  TIMESTAMP    NULL DEFAULT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

-- authorization_policy: 1 row in 5 is a root (parent_id = ''); the others point at row
-- ceil(n / 8), which always exists and comes earlier.
INSERT INTO authorization_policy
    (id, parent_id, tenant_id, name, description, resource, actions, effect, conditions,
     priority, is_enabled, created_by, created_at, updated_at, expires_at)
SELECT
    bench_uuid('policy', seq),
    IF(seq % 5 = 0 OR seq < 9, '', bench_uuid('policy', (seq + 7) DIV 8)),
    bench_uuid('tenant', seq % 97),
    CONCAT(ELT(1 + seq % 6, 'read', 'write', 'admin', 'audit', 'billing', 'support'),
           '-', ELT(1 + seq % 5, 'documents', 'invoices', 'users', 'projects', 'reports'),
           '-', seq),
    CASE
        WHEN seq % 23 = 0 THEN NULL
        WHEN seq % 29 = 0 THEN ''
        ELSE CONCAT_WS(' ',
            ELT(1 + seq % 7,
                'Grants members of the group access to the resource during business hours.',
                'Legacy rule imported from the previous identity provider; review before 2025.',
                'Déjà vu: this policy overrides the tenant default, see ticket #4711.',
                'Allows read-only access for auditors, except for records marked confidential.',
                'Temporary elevation for the on-call engineer; expires automatically.',
                'Denies deletion of finance records older than seven years (retention).',
                'Applies to service accounts only; humans must use the SSO flow.'),
            REPEAT(ELT(1 + seq % 4,
                'Conditions are evaluated in priority order and the first match wins. ',
                'Scopes are matched case-insensitively against the resource pattern. ',
                'Changes take effect after the policy cache refreshes (about 60 seconds). ',
                'Contact the security team before widening this rule to other tenants. '),
                1 + seq % 6))
    END,
    CONCAT('arn:app:', ELT(1 + seq % 5, 'documents', 'invoices', 'users', 'projects', 'reports'),
           ':', bench_uuid('tenant', seq % 97), '/', IF(seq % 3 = 0, '*', CONCAT('item/', seq % 1000))),
    ELT(1 + seq % 4, 'read', 'read,list', 'read,write,delete', 'create,read,update,delete,share'),
    IF(seq % 9 = 0, 'deny', 'allow'),
    IF(seq % 17 = 0, NULL,
       JSON_OBJECT(
           'version', 2,
           'ip_ranges', JSON_ARRAY(CONCAT('10.', seq % 256, '.0.0/16'), '192.168.0.0/24'),
           'mfa', seq % 2 = 0,
           'hours', JSON_OBJECT('from', '08:00', 'to', '18:30', 'tz', 'Europe/Zürich'),
           'labels', JSON_ARRAY('prod', CONCAT('team-', seq % 13), 'naïve "quoted" label'),
           'max_session_s', 3600 + seq % 7200,
           'note', IF(seq % 4 = 0, NULL, CONCAT('rule ', seq, ', see https://wiki.example/p?id=', seq)))),
    (seq * 7919) % 1000,
    seq % 11 <> 0,
    ELT(1 + seq % 4, 'alice@example.com', 'bob@example.org', 'svc-provisioner', 'migration-2019'),
    '2015-01-01 00:00:00' + INTERVAL (seq * 104729) % 283996800 SECOND,
    '2019-06-01 00:00:00' + INTERVAL (seq * 15485863) % 157680000 SECOND,
    IF(seq % 3 = 0, '2026-01-01 00:00:00' + INTERVAL seq % 730 DAY, NULL)
FROM seq_1_to_100000000 WHERE seq <= @policies;

-- document_blob: 256 B to 4 KiB of random bytes (all 256 byte values, NULs included).
INSERT INTO document_blob (policy_id, file_name, mime_type, sha1, content, uploaded_at)
SELECT
    bench_uuid('policy', 1 + (seq * 31) % @policies),
    CONCAT(ELT(1 + seq % 5, 'scan', 'contract', 'avatar', 'export', 'Überweisung'), '_', seq,
           ELT(1 + seq % 5, '.pdf', '.docx', '.png', '.zip', '.pdf')),
    ELT(1 + seq % 5, 'application/pdf',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'image/png', 'application/zip', 'application/pdf'),
    UNHEX(SHA1(CONCAT('blob:', seq))),
    LEFT(CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024)),
         256 + (seq * 2654435761) % 3841),
    '2020-01-01 00:00:00.000' + INTERVAL (seq * 7727) % 126144000000 / 1000 SECOND
FROM seq_1_to_100000000 WHERE seq <= @blobs;

-- ledger_entry: about 5,000 accounts per scale unit, signed amounts, some reversals.
INSERT INTO ledger_entry
    (account_id, entry_date, value_date, amount, balance, fx_rate, currency, is_reversal,
     posted_at, memo)
SELECT
    1 + (seq * 7) % (5000 * @scale),
    DATE('2018-01-01') + INTERVAL seq % 2920 DAY,
    IF(seq % 10 = 0, NULL, DATE('2018-01-01') + INTERVAL (seq % 2920) + (seq % 3) DAY),
    CAST((CAST((seq * 2654435761) % 200000001 AS SIGNED) - 100000000) / 10000 AS DECIMAL(20,4)),
    CAST((CAST((seq * 40503 * 1000003) % 9000000000000 AS SIGNED) - 2500000000000) / 10000 AS DECIMAL(20,4)),
    IF(seq % 4 = 0, NULL, CAST(0.5 + ((seq * 97) % 1500000) / 1000000 AS DECIMAL(12,6))),
    ELT(1 + seq % 4, 'EUR', 'USD', 'CHF', 'GBP'),
    seq % 50 = 0,
    '2018-01-01 00:00:00' + INTERVAL (seq % 2920) DAY + INTERVAL (seq * 3571) % 86400000000 MICROSECOND,
    IF(seq % 6 = 0, '', CONCAT(ELT(1 + seq % 4, 'SEPA ', 'card ', 'fee ', 'interest '), seq))
FROM seq_1_to_100000000 WHERE seq <= @ledger;

-- awkward_text: every value a CSV writer or reader can get wrong.
INSERT INTO awkward_text (kind, label, body, note, created_at)
SELECT
    ELT(1 + seq % 4, 'comment', 'address', 'import_line', 'chat'),
    frag,
    IF(seq % 3 = 0, frag,
       CONCAT_WS(CHAR(10 USING utf8mb4), frag, frag2,
                 REPEAT(CONCAT('Row ', seq, ': "quoted, with comma", tab', CHAR(9 USING utf8mb4), 'end', CHAR(13, 10 USING utf8mb4)),
                        1 + seq % 8))),
    ELT(1 + seq % 6, NULL, 'NULL', CONCAT(CHAR(92 USING utf8mb4), 'N'), '', 'null', frag2),
    IF(seq % 7 = 0, NULL, '2021-03-01 00:00:00' + INTERVAL (seq * 48271) % 94608000 SECOND)
FROM (
    SELECT seq,
        ELT(1 + seq % 20,
            'Smith, John, Jr.',
            CONCAT('He said ', CHAR(34 USING utf8mb4), 'hello, world', CHAR(34 USING utf8mb4), ' and left'),
            CONCAT('line one', CHAR(13, 10 USING utf8mb4), 'line two', CHAR(10 USING utf8mb4), 'line three'),
            CONCAT('col1', CHAR(9 USING utf8mb4), 'col2', CHAR(9 USING utf8mb4), CHAR(9 USING utf8mb4), 'col4'),
            CONCAT('C:', CHAR(92 USING utf8mb4), 'Users', CHAR(92 USING utf8mb4), 'new', CHAR(92 USING utf8mb4), 'table.csv'),
            'NULL',
            CONCAT(CHAR(92 USING utf8mb4), 'N'),
            '',
            '🚀 deploy ✅ done 🎉',
            'Zürich – naïve café, 東京, Ελληνικά, עברית, русский',
            CHAR(34 USING utf8mb4),
            ',,,',
            '  leading and trailing spaces  ',
            CONCAT(CHAR(34 USING utf8mb4), CHAR(92 USING utf8mb4), 'N', CHAR(34 USING utf8mb4)),
            CONCAT(CHAR(92 USING utf8mb4), CHAR(92 USING utf8mb4), 'N'),
            'family 👨‍👩‍👧‍👦 and flag 🇨🇭 (ZWJ sequences)',
            'Robert''); DROP TABLE students;--',
            CONCAT('ends with a backslash ', CHAR(92 USING utf8mb4)),
            CONCAT('bare CR', CHAR(13 USING utf8mb4), 'inside'),
            CONCAT(CHAR(34 USING utf8mb4), CHAR(34 USING utf8mb4), CHAR(34 USING utf8mb4), 'triple', CHAR(34 USING utf8mb4), CHAR(34 USING utf8mb4), CHAR(34 USING utf8mb4))) AS frag,
        ELT(1 + (seq DIV 20) % 7,
            'a,b;c|d',
            CONCAT('quote ', CHAR(34 USING utf8mb4), 'inside', CHAR(34 USING utf8mb4)),
            CONCAT(CHAR(92 USING utf8mb4), 'x41 is not hex here'),
            'NULL',
            '😀😃😄😁',
            CONCAT('tab', CHAR(9 USING utf8mb4), 'then newline', CHAR(10 USING utf8mb4)),
            '') AS frag2
    FROM seq_1_to_100000000 WHERE seq <= @awkward
) AS s;

DROP FUNCTION bench_uuid;
ANALYZE TABLE authorization_policy, document_blob, ledger_entry, awkward_text;
