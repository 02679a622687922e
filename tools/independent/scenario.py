"""An independent CTI server and agent-desktop client over real TCP on 127.0.0.1.

Usage: scenario.py TRUTH.jsonl [--port-file FILE]
Three sessions (connections): PV24, PV20, PV15. Every message sent is written to the truth
file with its direction, type, session, connection, protocol version and field values.
The first line of the truth file is {"port": P, ...}.
"""

import json
import socket
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import cti  # noqa: E402

LOCK = threading.Lock()
TRUTH = []
SEQ = [0]


def send(sock, who, session, version, name, fixed, floating=()):
    floating = cti.floating_for(name, version, floating)
    frame = cti.encode(name, version, fixed, floating)
    # Self-check: decoding our own frame gives back what we put in.
    n, fx, fl = cti.decode(frame, version)
    assert n == name and fx == {f["field"]: fixed[f["field"]] for f in cti.fixed_fields(name, version)}
    assert [v for _, _, v in fl] == [v for _, v in floating], (fl, floating)
    with LOCK:
        SEQ[0] += 1
        TRUTH.append({
            "seq": SEQ[0],
            "session": session,
            "connection": session - 1,
            "direction": "client->server" if who == "client" else "server->client",
            "type": name,
            "type_id": cti.MESSAGES[name]["type"],
            "protocol_version": version,
            "length": len(frame) - 8,
            "fields": {f["field"]: fixed[f["field"]] for f in cti.fixed_fields(name, version)},
            "floating": floating_truth(name, floating),
        })
        sock.sendall(frame)


def floating_truth(name, floating):
    """Truth rows of the floating fields; group members get the group and instance number."""
    rows, seen = [], {}
    for k, v in floating:
        spec = cti._float_spec(name, k)
        row = {"tag": spec["tag"], "name": k, "value": v}
        if spec.get("group"):
            row["group"] = spec["group"]
            row["index"] = seen.get(k, 0)
        seen[k] = seen.get(k, 0) + 1
        rows.append(row)
    return rows


AGENT = {"id": "1001", "ext": "40001", "inst": "40001"}
PERIPHERAL = 5000


def agent_state_event(state, session, version, flt_skills=True):
    fixed = dict(MonitorID=0, PeripheralID=PERIPHERAL, SessionID=session, PeripheralType=9,
                 SkillGroupState=state, StateDuration=0, SkillGroupNumber=0xFFFFFFFF,
                 SkillGroupID=0xFFFFFFFF, SkillGroupPriority=0, AgentState=state,
                 EventReasonCode=0, MRDID=1, NumTasks=1 if state == 4 else 0, AgentMode=0,
                 MaxTaskLimit=1, ICMAgentID=5001, AgentAvailabilityStatus=0,
                 NumFltSkillGroups=1, DepartmentID=0)
    floating = [("CTIClientSignature", "desk-1001"), ("AgentID", AGENT["id"]),
                ("AgentExtension", AGENT["ext"]), ("AgentInstrument", AGENT["inst"]),
                ("Direction", 0),
                ("FltSkillGroupNumber", 101), ("FltSkillGroupID", 5101),
                ("FltSkillGroupPriority", 1), ("FltSkillGroupState", state),
                ("MaxBeyondTaskLimit", 0)]
    return fixed, floating


def server_session(conn, session):
    version = None
    while True:
        frame = cti.read_frame(conn)
        if frame is None:
            return
        if version is None:
            version = int.from_bytes(frame[12:16], "big")  # OPEN_REQ.VersionNumber, body offset 4
        name, fx, fl = cti.decode(frame, version)
        inv = fx.get("InvokeID")

        def s(n, fixed, floating=()):
            send(conn, "server", session, version, n, fixed, floating)

        if name == "OPEN_REQ":
            s("OPEN_CONF", dict(InvokeID=inv, ServicesGranted=fx["ServicesRequested"], MonitorID=0,
                                PGStatus=0, ICMCentralControllerTime=1764979200, PeripheralOnline=1,
                                PeripheralType=9, AgentState=2, DepartmentID=0, SessionType=1),
              [("AgentExtension", AGENT["ext"]), ("AgentID", AGENT["id"]),
               ("AgentInstrument", AGENT["inst"]), ("NumPeripherals", 1),
               ("FltPeripheralID", PERIPHERAL), ("MultilineAgentControl", 0)])
        elif name == "HEARTBEAT_REQ":
            if inv == 2 and session == 1:
                continue  # the unanswered heartbeat
            s("HEARTBEAT_CONF", dict(InvokeID=inv))
        elif name == "SET_AGENT_STATE_REQ":
            if fx["AgentState"] == 9:  # AGENT_STATE_UNKNOWN: refused
                s("FAILURE_CONF", dict(InvokeID=inv, Status=12))
                continue
            s("SET_AGENT_STATE_CONF", dict(InvokeID=inv))
            s("AGENT_STATE_EVENT", *agent_state_event(fx["AgentState"], session, version))
            if session == 1:
                call_events(s)
        elif name == "CLOSE_REQ":
            s("CLOSE_CONF", dict(InvokeID=inv))


def call_events(s):
    call = 16795322
    dev = dict(PeripheralType=9, ConnectionDeviceIDType=0, ConnectionCallID=call)
    s("BEGIN_CALL_EVENT", dict(MonitorID=0, PeripheralID=PERIPHERAL, NumCTIClients=1,
                               NumNamedVariables=1, NumNamedArrays=2, CallType=1,
                               CalledPartyDisposition=0, **dev),
      [("ConnectionDeviceID", "40001"), ("ANI", "5551234"), ("DNIS", "8001"),
       ("DialedNumber", "8001"), ("CallVariable1", "account=42"),
       ("RouterCallKeyDay", 150000), ("RouterCallKeyCallID", 77),
       ("RouterCallKeySequenceNumber", 1),
       ("NamedVariable", {"name": "user.Language", "value": "fr"}),
       ("NamedArray", {"name": "user.Skills", "index": 0, "value": "billing"}),
       ("NamedArray", {"name": "user.Skills", "index": 1, "value": "sales"}),
       ("CTIClientSignature", "desk-1001"), ("CTIClientTimestamp", 1764979210)])
    common = dict(MonitorID=0, PeripheralID=PERIPHERAL, LineHandle=0, LineType=0,
                  ServiceNumber=0xFFFFFFFF, ServiceID=0xFFFFFFFF, SkillGroupNumber=101,
                  SkillGroupID=5101, SkillGroupPriority=0, CallingDeviceType=0,
                  CalledDeviceType=0, LastRedirectDeviceType=0xFFFF, **dev)
    s("CALL_DELIVERED_EVENT", dict(AlertingDeviceType=0, LocalConnectionState=2, EventCause=22,
                                   NumNamedVariables=1, NumNamedArrays=0, **common),
      [("ConnectionDeviceID", "40001"), ("AlertingDeviceID", "40001"),
       ("CallingDeviceID", "5551234"), ("CalledDeviceID", "40001"),
       ("SecondaryConnectionCallID", 0), ("ANI", "5551234"), ("DNIS", "8001"),
       ("TrunkNumber", 12), ("NamedVariable", {"name": "user.Language", "value": "fr"})])
    s("CALL_ESTABLISHED_EVENT", dict(AnsweringDeviceType=0, LocalConnectionState=3,
                                     EventCause=22, **common),
      [("ConnectionDeviceID", "40001"), ("AnsweringDeviceID", "40001"),
       ("CallingDeviceID", "5551234"), ("CalledDeviceID", "40001")])
    s("CALL_CLEARED_EVENT", dict(MonitorID=0, PeripheralID=PERIPHERAL, LocalConnectionState=0,
                                 EventCause=22, **dev), [("ConnectionDeviceID", "40001")])
    s("END_CALL_EVENT", dict(MonitorID=0, PeripheralID=PERIPHERAL, **dev),
      [("ConnectionDeviceID", "40001")])


def server(listener, sessions):
    for session in range(1, sessions + 1):
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server_session(conn, session)
        conn.close()


def expect(sock, version, names):
    got = []
    for _ in names:
        frame = cti.read_frame(sock)
        got.append(cti.decode(frame, version)[0])
    assert got == list(names), (got, names)


def client_session(port, session, version):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def s(n, fixed, floating=()):
        send(sock, "client", session, version, n, fixed, floating)

    s("OPEN_REQ", dict(InvokeID=1, VersionNumber=version, IdleTimeout=60, PeripheralID=PERIPHERAL,
                       ServicesRequested=0x00000010, CallMsgMask=0x0000000F, AgentStateMask=0x000003FF,
                       ConfigMsgMask=0, Reserved1=0, Reserved2=0, Reserved3=0),
      [("ClientID", "desk-1001"), ("ClientPassword", ""), ("ClientSignature", "desk-1001"),
       ("AgentExtension", AGENT["ext"]), ("AgentID", AGENT["id"]), ("AgentInstrument", AGENT["inst"])])
    expect(sock, version, ["OPEN_CONF"])
    inv = 2
    if session == 1:
        s("HEARTBEAT_REQ", dict(InvokeID=inv))  # never answered
        time.sleep(1.5)
        inv += 1
    s("HEARTBEAT_REQ", dict(InvokeID=inv))
    expect(sock, version, ["HEARTBEAT_CONF"])
    inv += 1
    s("SET_AGENT_STATE_REQ", dict(InvokeID=inv, PeripheralID=PERIPHERAL, AgentState=3, AgentWorkMode=0,
                                  NumSkillGroups=0, EventReasonCode=0, ForcedFlag=0, AgentServiceReq=0),
      [("AgentInstrument", AGENT["inst"]), ("AgentID", AGENT["id"])])
    replies = ["SET_AGENT_STATE_CONF", "AGENT_STATE_EVENT"]
    if session == 1:
        replies += ["BEGIN_CALL_EVENT", "CALL_DELIVERED_EVENT", "CALL_ESTABLISHED_EVENT",
                    "CALL_CLEARED_EVENT", "END_CALL_EVENT"]
    expect(sock, version, replies)
    inv += 1
    if session == 1:
        s("SET_AGENT_STATE_REQ", dict(InvokeID=inv, PeripheralID=PERIPHERAL, AgentState=9, AgentWorkMode=0,
                                      NumSkillGroups=0, EventReasonCode=0, ForcedFlag=0, AgentServiceReq=0),
          [("AgentInstrument", AGENT["inst"])])
        expect(sock, version, ["FAILURE_CONF"])
        inv += 1
    s("CLOSE_REQ", dict(InvokeID=inv, Status=0))
    expect(sock, version, ["CLOSE_CONF"])
    time.sleep(0.1)
    sock.close()
    time.sleep(0.2)


def main():
    truth_path = sys.argv[1]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    if len(sys.argv) > 3 and sys.argv[2] == "--port-file":
        with open(sys.argv[3], "w") as f:
            f.write("%d\n" % port)
        time.sleep(1.0)  # let tcpdump start (capture.sh waits for this)
    versions = [24, 20, 15]
    t = threading.Thread(target=server, args=(listener, len(versions)))
    t.start()
    for i, v in enumerate(versions):
        client_session(port, i + 1, v)
    t.join()
    with open(truth_path, "w") as f:
        f.write(json.dumps({"port": port, "sessions": [{"session": i + 1, "connection": i, "protocol_version": v}
                                                         for i, v in enumerate(versions)]}) + "\n")
        for rec in TRUTH:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
