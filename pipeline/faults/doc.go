// Package faults holds the fault-injection tests of the streaming
// attributor, against the real Kafka and ClickHouse: the attributor killed
// with SIGKILL and restarted, ClickHouse stopped in mid-run, the Kafka broker
// restarted in mid-run, and instances joining and leaving a running group.
// Each ends with the view credited_conversions equal to replay's result.
//
// The tests stop and start the shared services (scripts/services.sh), so
// they skip unless ATTRIBUTOR_FAULT_TESTS=1, and must never run alongside
// other tests: scripts/test.sh runs them alone, after the main suite, with
// -p 1. ATTRIBUTOR_SERVICES_SCRIPT overrides the services script (default:
// scripts/services.sh of this repository).
package faults
