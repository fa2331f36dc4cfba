//===- ChromeTrace.cpp - a Chrome trace-event file of a run ---------------===//

#include "moe/Execution/ChromeTrace.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <set>

using llvm::json::Array;
using llvm::json::Object;

llvm::Error mlir::moe::writeChromeTrace(llvm::StringRef path,
                                     llvm::ArrayRef<moert::RankOutcome> outcomes) {
  Array events;
  for (const moert::RankOutcome &o : outcomes) {
    events.push_back(Object{{"name", "process_name"},
                            {"ph", "M"},
                            {"pid", o.rank},
                            {"args", Object{{"name", "rank " + std::to_string(o.rank)}}}});
    std::set<int> streams;
    for (const moert::TraceSpan &s : o.trace)
      streams.insert(s.stream);
    for (int stream : streams)
      events.push_back(Object{
          {"name", "thread_name"},
          {"ph", "M"},
          {"pid", o.rank},
          {"tid", stream},
          {"args", Object{{"name", "stream " + std::to_string(stream)}}}});
    for (const moert::TraceSpan &s : o.trace) {
      // "npu.matmul at layer.mlir:12:5": the op names the span, the place
      // goes to its arguments.
      llvm::StringRef op(s.op), at;
      std::tie(op, at) = op.split(" at ");
      events.push_back(Object{{"name", op},
                              {"cat", s.flow ? "event" : "op"},
                              {"ph", "X"},
                              {"pid", o.rank},
                              {"tid", s.stream},
                              {"ts", s.startUs},
                              {"dur", s.durationUs},
                              {"args", Object{{"bytes", s.bytes}, {"at", at}}}});
      if (!s.flow)
        continue;
      // The arrow leaves the record when it ran and enters the wait when
      // the wait ended (the event was recorded by then).
      Object flow{{"name", "event"},
                  {"cat", "event"},
                  {"ph", s.flowStart ? "s" : "f"},
                  {"id", static_cast<int64_t>(s.flow)},
                  {"pid", o.rank},
                  {"tid", s.stream},
                  {"ts", s.flowStart ? s.startUs : s.startUs + s.durationUs}};
      if (!s.flowStart)
        flow["bp"] = "e";
      events.push_back(std::move(flow));
    }
  }
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(ec, "cannot write the trace '" + path +
                                           "': " + ec.message());
  os << llvm::json::Value(Object{{"traceEvents", std::move(events)},
                                 {"displayTimeUnit", "ms"}});
  os << "\n";
  os.close();
  if (os.has_error())
    return llvm::createStringError(os.error(), "cannot write the trace '" +
                                                   path + "': " +
                                                   os.error().message());
  return llvm::Error::success();
}
