package migrate

// ClusterDDL is clusterDDL, for the cluster tests of package migrate_test
// (which make a database of an earlier schema on a cluster).
var ClusterDDL = clusterDDL

// SetAsideOnCluster is setAsideOnCluster, for the cluster test of the step
// every rebuild of a table takes on a cluster.
var SetAsideOnCluster = setAsideOnCluster

// SortedByIDAlone is sortedByIDAlone, for the test of its read while
// another migration drops and creates tables.
var SortedByIDAlone = sortedByIDAlone
