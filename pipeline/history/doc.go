// Package history reads back from ClickHouse what the stream stored; it
// writes nothing (pipeline/sink writes the rows it reads). Its callers are
// the runner, at the start of a generation, and the shards, through the
// sessionize.History the runner builds on Load:
//
//   - Load: the stored touchpoints and conversions of the users asked
//     for, within reach of a window, and the days each conversion's
//     credits show under; with stitching also the events of the users'
//     devices, the user a device key is linked to and the highest version
//     each conversion was credited with (a flow.History).
//   - LoadFrontiers, LatestTouchpoints, LoadStoredKeys: where a
//     generation starts from (the latest conversion attributed and the
//     latest touchpoint per partition, the keys with stored events).
//   - LoadLinks, LoadLinkedUsers: the stored links a generation rebuilds
//     its link tables from, and the users some device was linked to.
//
// Every function takes the connection and the database, reads only, and
// returns the driver's errors as they are or wrapped with %w, so that the
// caller classifies them (sink.Classify): the runner retries a transient
// failure and stops on a missing table. Keys travel as external
// tables, never inside the SQL text. The queries run on ClickHouse 18.16
// and on a cluster's Distributed tables (a user's devices are found
// through GLOBAL IN).
package history
