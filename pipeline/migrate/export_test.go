package migrate

// ClusterDDL is clusterDDL, for the cluster tests of package migrate_test
// (which make a database of an earlier schema on a cluster).
var ClusterDDL = clusterDDL
