package sink

import (
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// Class says what the sink does about a failed write.
type Class int

const (
	// Transient: the server or the network is away or overloaded (network
	// errors, timeouts, too many parts, memory limit, shutting down); the
	// batch is retried with backoff, visibly. Anything not known to be
	// permanent is transient: retrying is what the sink always did.
	Transient Class = iota
	// Refused: the server refused some values (cannot parse, out of
	// range, a type mismatch in an expression, throwIf); the batch is
	// split to find the rows refused, those are dead-lettered and the
	// rest written.
	Refused
	// Unusable: the table cannot take any row (it or its database is
	// missing, a column is missing or of another type, the user may not
	// write); the run stops with an error naming the table.
	Unusable
)

func (c Class) String() string {
	switch c {
	case Refused:
		return "refused"
	case Unusable:
		return "unusable"
	}
	return "transient"
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp; the same numbers in
// 18.16 and today).
var codeClass = map[int32]Class{
	// Values.
	6:   Refused, // CANNOT_PARSE_TEXT
	26:  Refused, // CANNOT_PARSE_QUOTED_STRING
	27:  Refused, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	38:  Refused, // CANNOT_PARSE_DATE
	41:  Refused, // CANNOT_PARSE_DATETIME
	53:  Refused, // TYPE_MISMATCH
	69:  Refused, // ARGUMENT_OUT_OF_BOUND
	70:  Refused, // CANNOT_CONVERT_TYPE
	72:  Refused, // CANNOT_PARSE_NUMBER
	117: Refused, // INCORRECT_DATA
	131: Refused, // TOO_LARGE_STRING_SIZE
	321: Refused, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
	395: Refused, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
	469: Refused, // VIOLATED_CONSTRAINT (CHECK constraints, ClickHouse 19.14+)

	// The table, whatever the values.
	7:   Unusable, // NUMBER_OF_COLUMNS_DOESNT_MATCH
	8:   Unusable, // THERE_IS_NO_COLUMN
	16:  Unusable, // NO_SUCH_COLUMN_IN_TABLE
	47:  Unusable, // UNKNOWN_IDENTIFIER
	60:  Unusable, // UNKNOWN_TABLE
	81:  Unusable, // UNKNOWN_DATABASE
	164: Unusable, // READONLY (the user's setting)
	218: Unusable, // TABLE_IS_DROPPED
	291: Unusable, // DATABASE_ACCESS_DENIED
	497: Unusable, // ACCESS_DENIED

	// Transient, named so that the table says so (unlisted codes are too).
	159: Transient, // TIMEOUT_EXCEEDED
	202: Transient, // TOO_MANY_SIMULTANEOUS_QUERIES
	209: Transient, // SOCKET_TIMEOUT
	210: Transient, // NETWORK_ERROR
	236: Transient, // ABORTED (server shutting down)
	241: Transient, // MEMORY_LIMIT_EXCEEDED
	242: Transient, // TABLE_IS_READ_ONLY (a replica lost ZooKeeper)
	252: Transient, // TOO_MANY_PARTS
	319: Transient, // UNKNOWN_STATUS_OF_INSERT
	394: Transient, // QUERY_WAS_CANCELLED
}

// Classify says what to do about err, an error of a write. It looks at
// types and codes, never at the text: a clickhouse.Exception by its code,
// a column clickhouse-go cannot convert our values to as Unusable (the
// table's column changed type), network errors and everything unknown as
// Transient.
func Classify(err error) Class {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return codeClass[ex.Code] // Transient when unlisted
	}
	var conv *column.ColumnConverterError
	if errors.As(err, &conv) {
		return Unusable
	}
	var layout *columnsError
	if errors.As(err, &layout) {
		return Unusable
	}
	return Transient
}

// columnsError is a prepared INSERT whose columns are not the ones the
// sink sends: the table's layout changed.
type columnsError struct{ prepared, given int }

func (e *columnsError) Error() string {
	return fmt.Sprintf("%d columns prepared, %d given", e.prepared, e.given)
}

// TableError is a failed INSERT into one table.
type TableError struct {
	Table string
	Err   error
}

func (e *TableError) Error() string { return "insert " + e.Table + ": " + e.Err.Error() }
func (e *TableError) Unwrap() error { return e.Err }

// UnusableError stops a run: a table cannot take any row. It names the
// table and carries the server's message.
type UnusableError struct {
	Database, Table string
	Err             error
}

func (e *UnusableError) Error() string {
	return fmt.Sprintf("clickhouse table %s.%s is unusable, stopping (fix it and run again: offsets are committed only up to the rows stored): %v", e.Database, e.Table, e.Err)
}
func (e *UnusableError) Unwrap() error { return e.Err }
