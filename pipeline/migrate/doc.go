// Package migrate owns the ClickHouse schema: it creates or upgrades a
// database to schemas.SchemaVersion (Migrate), on one server or on a
// cluster with replicated tables under Distributed ones (MigrateCluster),
// safely while other instances do the same. The runner, `attributor
// migrate` and `fit` use it; the sink only writes rows to the tables it
// makes. It imports no stage of the stream.
package migrate
