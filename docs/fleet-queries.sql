-- Fleet queries over the tables of `ctiscope export` (docs/export.md). Each query runs as it
-- is on DuckDB and on Spark SQL, over views named after the tables (tools/fleet_queries.py
-- makes them, and gives DuckDB Spark's get_json_object); tests/export.rs checks that both
-- engines give the same answers. A query starts at its `-- name:` line.

-- name: rows_per_table
SELECT 'messages' AS table_name, count(*) AS row_count FROM messages
UNION ALL SELECT 'requests', count(*) FROM requests
UNION ALL SELECT 'findings', count(*) FROM findings
UNION ALL SELECT 'sessions', count(*) FROM sessions
UNION ALL SELECT 'calls', count(*) FROM calls
UNION ALL SELECT 'agent_states', count(*) FROM agent_states
UNION ALL SELECT 'gaps', count(*) FROM gaps
ORDER BY table_name;

-- name: messages_per_capture_and_day
SELECT capture, CAST(day AS STRING) AS day, count(*) AS messages, count(DISTINCT connection) AS connections
FROM messages
GROUP BY capture, day
ORDER BY capture, day;

-- name: message_types
SELECT type, direction, count(*) AS messages
FROM messages
GROUP BY type, direction
ORDER BY messages DESC, type, direction;

-- name: p99_set_agent_state_latency_per_pg_per_hour
-- The 99th percentile (nearest rank, as `stats` computes it) of SET_AGENT_STATE_REQ latency,
-- per peripheral (PG) and hour.
SELECT peripheral_id,
       date_trunc('HOUR', request_time) AS hour,
       count(*) AS requests,
       CAST(percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ns) AS BIGINT) AS p99_latency_ns,
       max(latency_ns) AS max_latency_ns
FROM requests
WHERE request = 'SET_AGENT_STATE_REQ' AND latency_ns IS NOT NULL
GROUP BY peripheral_id, date_trunc('HOUR', request_time)
ORDER BY peripheral_id, hour;

-- name: unanswered_or_failed_requests
SELECT request, status, count(*) AS requests
FROM requests
WHERE status <> 'ok'
GROUP BY request, status
ORDER BY request, status;

-- name: agents_not_ready_after_failure_event
-- Agents whose state turned NOT_READY within 60 s after a FAILURE_EVENT of the same capture,
-- and stayed so for 5 minutes or to the end of the capture.
SELECT DISTINCT s.capture, s.agent_id, s.start_time, s.duration_ns, s.ended
FROM agent_states s
JOIN messages f
  ON f.capture = s.capture
 AND f.type = 'FAILURE_EVENT'
 AND f.time_ns <= s.start_time_ns
 AND s.start_time_ns - f.time_ns <= 60000000000
WHERE s.state = 'AGENT_STATE_NOT_READY'
  AND (NOT s.ended OR s.duration_ns >= 300000000000)
ORDER BY s.capture, s.agent_id, s.start_time;

-- name: agents_in_not_ready
-- Time each agent spent NOT_READY, per capture.
SELECT capture, agent_id, count(*) AS intervals, sum(duration_ns) AS not_ready_ns
FROM agent_states
WHERE state = 'AGENT_STATE_NOT_READY'
GROUP BY capture, agent_id
ORDER BY capture, agent_id;

-- name: calls_whose_call_data_update_changed_callvariable5
-- Calls (per capture, connection and ConnectionCallID) for which a CALL_DATA_UPDATE_EVENT
-- carried a CallVariable5 different from the one the call had before.
SELECT capture, connection, connection_call_id, count(*) AS changes
FROM (
  SELECT capture, connection, connection_call_id, type,
         get_json_object(fields, '$.CallVariable5') AS v,
         lag(get_json_object(fields, '$.CallVariable5'))
           OVER (PARTITION BY capture, connection, connection_call_id ORDER BY frame) AS previous
  FROM messages
  WHERE connection_call_id IS NOT NULL
    AND get_json_object(fields, '$.CallVariable5') IS NOT NULL
) x
WHERE type = 'CALL_DATA_UPDATE_EVENT' AND previous IS NOT NULL AND v <> previous
GROUP BY capture, connection, connection_call_id
ORDER BY capture, connection, connection_call_id;

-- name: call_durations
SELECT capture, count(*) AS calls, sum(duration_ns) AS total_ns, max(talk_ns) AS longest_talk_ns,
       sum(CASE WHEN ended THEN 1 ELSE 0 END) AS ended
FROM calls
GROUP BY capture
ORDER BY capture;

-- name: findings_per_rule
SELECT rule, severity, count(*) AS findings
FROM findings
GROUP BY rule, severity
ORDER BY rule, severity;

-- name: gap_bytes_per_capture
SELECT capture, count(*) AS gaps, sum(bytes) AS bytes
FROM gaps
GROUP BY capture
ORDER BY capture;
