// Bad input and security checks (tests/badinput/): WebSocket protocol
// violations sent with python3-autobahn, oversized messages, event floods,
// connection caps, slowloris, header floods, request smuggling shapes, token
// logging, X-Forwarded-For trust and affinity-cookie forgery, against the
// worker under test (SIOC_WORKER_CMD) and the sioc-proxy built next to it.

import { defineBadInputTests } from "../badinput/suite.mjs";

defineBadInputTests();
