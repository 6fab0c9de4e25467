// Package examples holds example behaviour scripts, one directory each, written in
// the language of package script (see its documentation):
//
//   - rest: a REST API with login and create/read/update/delete of items.
//   - shop: a weighted browse/checkout shop with two user classes.
//   - inference: a JSON model-inference endpoint fed prompts from a CSV file.
//   - streaming: a streaming (server-sent events) completion endpoint, with time
//     to first token and inter-token latency.
//   - grpc/reflection, grpc/proto: gRPC users of the in-repository Echo service
//     (grpc/service, run by grpc/server), its types found by server reflection or
//     read from the .proto beside the script.
//   - locust/...: ten of Locust's own examples (Debian's python3-locust ships the
//     originals), each ported and saying what changed: quickstart (locustfile.py),
//     basic, browse_docs_sequence, dynamic_user_credentials, test_data_management,
//     custom_shape (stages.py), stop_on_threshold, multiple_hosts, worker_index,
//     semaphore_wait. docs/locust.md puts Locust's concepts beside Stampede's.
//   - websocket: WebSocket users of the in-repository echo/chat target
//     (websocket/chat, run by websocket/server), sockets kept across tasks.
//
// Run one with `master --script examples/shop/main.star --host http://...`. The tests
// of this package run every example against an in-process target that speaks its
// API, and check that every request sent was counted.
package examples
