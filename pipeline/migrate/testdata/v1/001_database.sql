-- The database of the attribution pipeline. {db} is replaced by the
-- validated database name (flag --database, default "attribution").
CREATE DATABASE IF NOT EXISTS {db};
