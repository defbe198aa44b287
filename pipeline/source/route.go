package source

import "github.com/attributor/attributor/pipeline/flow"

// route is the one place that decides where a decoded touchpoint or
// conversion is processed: the key it is attributed under and its home,
// the repartition partition whose owner holds that key's state:
// murmur2(key) mod R, the Java client's partitioner, so that a producer
// keying by the attribution key with murmur2 into R partitions puts every
// event at home (the direct path). Identity stitching changes the key
// here.
func (rt *Routing) route(it *flow.Item) (key string, home int) {
	if it.Kind == flow.KindTouchpoint {
		key = it.TP.Key()
	} else {
		key = it.CV.Key()
	}
	return key, keyPartition(key, rt.Homes)
}

// forwards says whether the fetcher's topic is an input whose events are
// routed to their homes (touchpoints, conversions; not spend or the
// repartition topic itself).
func (f *Fetcher) forwards() bool {
	return f.topic == f.src.Cfg.TouchpointsTopic || f.topic == f.src.Cfg.ConversionsTopic
}
