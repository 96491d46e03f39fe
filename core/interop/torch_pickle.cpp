#include "core/interop/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "core/util/error.h"

namespace pretext {
namespace {

// One value on the pickle machine's stack. Containers are shared (the memo refers to them, and
// SETITEMS / APPENDS fill them in place).
struct Node;
using NodePtr = std::shared_ptr<Node>;
struct Node {
  enum class Kind { None, Bool, Int, Float, Str, List, Tuple, Dict, Tensor, Global, Object, Storage, Mark };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // Str; Global/Object: "module.Name"; Storage: its record key
  std::vector<NodePtr> items;                          // List, Tuple
  std::vector<std::pair<NodePtr, NodePtr>> entries;    // Dict, in insertion order
  torch::Tensor tensor;                                // Tensor; Storage: the flat storage
};


c10::ScalarType storageType(const std::string& global) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat},     {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},       {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},       {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},     {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},       {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble}};
  const auto it = types.find(global);
  if (it == types.end()) throw Error("a tensor storage of type " + global + ", which Pretext does not read");
  return it->second;
}

class PickleMachine {
 public:
  PickleMachine(const char* data, size_t size, caffe2::serialize::PyTorchStreamReader& zip)
      : p_(data), end_(data + size), begin_(data), zip_(zip) {}
  // A pickle can make a list hold itself (APPEND after DUP or BINGET): the links are cut here so
  // that such cycles of shared pointers are freed (found by the fuzzer's leak checker).
  ~PickleMachine() {
    for (auto& n : nodes_) {
      n->items.clear();
      n->entries.clear();
    }
  }

  NodePtr run() {
    for (;;) {
      const auto op = static_cast<uint8_t>(byte());
      switch (op) {
        case 0x80: byte(); break;          // PROTO
        case 0x95: take(8); break;         // FRAME
        case '(': push(make(Node::Kind::Mark)); break;
        case '.': return pop();            // STOP
        case '0': pop(); break;            // POP
        case '1': popMark(); break;        // POP_MARK
        case '2': push(top()); break;      // DUP
        case 'N': push(make(Node::Kind::None)); break;
        case 0x88: case 0x89: {            // NEWTRUE, NEWFALSE
          auto n = make(Node::Kind::Bool);
          n->b = op == 0x88;
          push(n);
          break;
        }
        case 'J': pushInt(littleEndian(4, true)); break;   // BININT
        case 'K': pushInt(littleEndian(1, false)); break;  // BININT1
        case 'M': pushInt(littleEndian(2, false)); break;  // BININT2
        case 0x8a: pushInt(littleEndian(static_cast<uint8_t>(byte()), true)); break;  // LONG1
        case 0x8b: pushInt(littleEndian(static_cast<size_t>(littleEndian(4, false)), true)); break;
        case 'G': {                        // BINFLOAT (big-endian)
          const char* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(b[k]);
          auto n = make(Node::Kind::Float);
          std::memcpy(&n->f, &bits, 8);
          push(n);
          break;
        }
        case 'X': case 'T': case 'B': pushStr(static_cast<size_t>(littleEndian(4, false))); break;
        case 0x8c: case 'U': case 'C': pushStr(static_cast<uint8_t>(byte())); break;
        case 0x8d: case 0x8e: pushStr(static_cast<size_t>(littleEndian(8, false))); break;
        case ']': push(make(Node::Kind::List)); break;
        case 0x8f: push(make(Node::Kind::List)); break;     // EMPTY_SET (kept as a list)
        case ')': push(make(Node::Kind::Tuple)); break;
        case '}': push(make(Node::Kind::Dict)); break;
        case 'l': case 't': case 0x91: {   // LIST, TUPLE, FROZENSET (from the mark)
          auto n = make(op == 't' ? Node::Kind::Tuple : Node::Kind::List);
          n->items = popMark();
          push(n);
          break;
        }
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          auto n = make(Node::Kind::Tuple);
          n->items.resize(op - 0x84);
          for (size_t k = n->items.size(); k-- > 0;) n->items[k] = pop();
          push(n);
          break;
        }
        case 'd': {                        // DICT (from the mark)
          auto items = popMark();
          auto n = make(Node::Kind::Dict);
          setItems(*n, items);
          push(n);
          break;
        }
        case 'a': {                        // APPEND
          auto v = pop();
          list(top()).items.push_back(v);
          break;
        }
        case 'e': case 0x90: {             // APPENDS, ADDITEMS
          auto items = popMark();
          auto& l = list(top());
          l.items.insert(l.items.end(), items.begin(), items.end());
          break;
        }
        case 's': {                        // SETITEM
          auto v = pop();
          auto k = pop();
          setItems(*top(), {k, v});
          break;
        }
        case 'u': {                        // SETITEMS
          auto items = popMark();
          setItems(*top(), items);
          break;
        }
        case 'q': memo(littleEndian(1, false)); break;   // BINPUT
        case 'r': memo(littleEndian(4, false)); break;   // LONG_BINPUT
        case 0x94: memo(static_cast<int64_t>(memo_.size())); break;  // MEMOIZE
        case 'h': push(recall(littleEndian(1, false))); break;       // BINGET
        case 'j': push(recall(littleEndian(4, false))); break;       // LONG_BINGET
        case 'c': {                        // GLOBAL module\nname\n
          const std::string module = line(), name = line();
          pushGlobal(module + "." + name);
          break;
        }
        case 0x93: {                       // STACK_GLOBAL
          auto name = pop(), module = pop();
          if (name->kind != Node::Kind::Str || module->kind != Node::Kind::Str) fail("STACK_GLOBAL without names");
          pushGlobal(module->s + "." + name->s);
          break;
        }
        case 'R': {                        // REDUCE
          auto args = pop();
          auto fn = pop();
          push(reduce(*fn, *args));
          break;
        }
        case 0x81: case 0x92: {            // NEWOBJ cls args, NEWOBJ_EX cls args kwargs
          if (op == 0x92) pop();
          pop();
          auto cls = pop();
          auto n = make(Node::Kind::Object);
          n->s = cls->s;
          push(n);
          break;
        }
        case 'b': pop(); break;            // BUILD: attributes (an OrderedDict's _metadata) dropped
        case 'Q': push(persistent(*pop())); break;  // BINPERSID
        default:
          fail("a pickle opcode Pretext does not read (0x" + hex(op) + ")");
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(what + " at byte " + std::to_string(p_ - begin_) + " of data.pkl");
  }
  static std::string hex(unsigned v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[(v >> 4) & 15], digits[v & 15]};
  }
  char byte() { return *take(1); }
  const char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("the pickle ends early (a truncated file?)");
    const char* at = p_;
    p_ += n;
    return at;
  }
  int64_t littleEndian(size_t n, bool isSigned) {
    if (n > 8) fail("an integer of " + std::to_string(n) + " bytes");
    const char* b = take(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | static_cast<uint8_t>(b[k]);
    if (isSigned && n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("a GLOBAL without its newline");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push(NodePtr n) {
    if (stack_.size() > 1000000) fail("a pickle stack of over a million values");
    stack_.push_back(std::move(n));
  }
  NodePtr pop() {
    if (stack_.empty() || stack_.back()->kind == Node::Kind::Mark) fail("a pickle that pops an empty stack");
    auto n = stack_.back();
    stack_.pop_back();
    return n;
  }
  NodePtr& top() {
    if (stack_.empty()) fail("a pickle that reads an empty stack");
    return stack_.back();
  }
  std::vector<NodePtr> popMark() {
    std::vector<NodePtr> items;
    while (!stack_.empty() && stack_.back()->kind != Node::Kind::Mark) {
      items.push_back(stack_.back());
      stack_.pop_back();
    }
    if (stack_.empty()) fail("a pickle without its MARK");
    stack_.pop_back();
    return {items.rbegin(), items.rend()};
  }
  void pushInt(int64_t v) {
    auto n = make(Node::Kind::Int);
    n->i = v;
    push(n);
  }
  void pushStr(size_t n) {
    auto s = make(Node::Kind::Str);
    const char* at = take(n);
    s->s.assign(at, n);
    push(s);
  }
  void pushGlobal(const std::string& name) {
    auto n = make(Node::Kind::Global);
    n->s = name;
    push(n);
  }
  Node& list(const NodePtr& n) {
    if (n->kind != Node::Kind::List) fail("APPEND to something that is not a list");
    return *n;
  }
  void setItems(Node& target, const std::vector<NodePtr>& kv) {
    if (target.kind != Node::Kind::Dict) fail("SETITEMS on something that is not a dict");
    if (kv.size() % 2) fail("SETITEMS with an odd number of values");
    for (size_t k = 0; k < kv.size(); k += 2) target.entries.emplace_back(kv[k], kv[k + 1]);
  }
  void memo(int64_t id) {
    if (id < 0 || id > 10000000) fail("a memo index out of range");
    memo_[id] = top();
  }
  NodePtr recall(int64_t id) {
    const auto it = memo_.find(id);
    if (it == memo_.end()) fail("a memo entry that was never stored");
    return it->second;
  }
  int64_t intOf(const NodePtr& n) {
    if (n->kind != Node::Kind::Int) fail("a tensor header that is not a number");
    return n->i;
  }

  // ('storage', torch.FloatStorage, key, location, numel): the record data/KEY.
  NodePtr persistent(const Node& pid) {
    if (pid.kind != Node::Kind::Tuple || pid.items.size() < 5 || pid.items[0]->s != "storage")
      fail("a persistent id that is not a tensor storage");
    const std::string key = pid.items[2]->s;
    const auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const auto dtype = storageType(pid.items[1]->s);
    const int64_t numel = intOf(pid.items[4]);
    if (!zip_.hasRecord("data/" + key)) fail("a tensor storage data/" + key + " missing from the archive");
    auto [data, bytes] = zip_.getRecord("data/" + key);
    const auto elem = static_cast<int64_t>(c10::elementSize(dtype));
    if (numel < 0 || numel > int64_t(bytes) / std::max<int64_t>(1, elem))
      fail("a storage of " + std::to_string(numel) + " values in " + std::to_string(bytes) + " bytes");
    auto n = make(Node::Kind::Storage);
    n->s = key;
    n->tensor = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (numel > 0)  // (an empty storage has no data pointer to copy to)
      std::memcpy(n->tensor.data_ptr(), data.get(), static_cast<size_t>(numel * elem));
    storages_[key] = n;
    return n;
  }

  NodePtr reduce(const Node& fn, const Node& args) {
    const bool tupleArgs = args.kind == Node::Kind::Tuple;
    if (fn.kind == Node::Kind::Global && tupleArgs) {
      if (fn.s == "torch._utils._rebuild_tensor_v2" || fn.s == "torch._utils._rebuild_tensor") {
        if (args.items.size() < 4 || args.items[0]->kind != Node::Kind::Storage) fail("a tensor without its storage");
        const auto& storage = args.items[0]->tensor;
        const int64_t offset = intOf(args.items[1]);
        std::vector<int64_t> size, stride;
        for (const auto& d : args.items[2]->items) size.push_back(intOf(d));
        for (const auto& d : args.items[3]->items) stride.push_back(intOf(d));
        if (size.size() != stride.size()) fail("a tensor whose size and stride differ in length");
        int64_t last = offset;
        bool empty = false;
        for (size_t d = 0; d < size.size(); ++d) {
          if (size[d] < 0 || stride[d] < 0) fail("a tensor with a negative size or stride");
          empty = empty || size[d] == 0;
          int64_t reach = 0;
          if (size[d] > 0 && (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) ||
                              __builtin_add_overflow(last, reach, &last)))
            fail("a tensor whose size and stride overflow");
        }
        if (offset < 0 || (!empty && last >= storage.numel()))
          fail("a tensor reaching beyond its storage of " + std::to_string(storage.numel()) + " values");
        auto n = make(Node::Kind::Tensor);
        n->tensor = empty ? torch::empty(size, storage.options()) : storage.as_strided(size, stride, offset).clone();
        return n;
      }
      if (fn.s == "torch._utils._rebuild_parameter" && !args.items.empty() &&
          args.items[0]->kind == Node::Kind::Tensor)
        return args.items[0];
      if (fn.s == "collections.OrderedDict" && args.items.empty()) return make(Node::Kind::Dict);
      // What LibTorch's own pickler writes (torch::pickle_save): containers with a type tag,
      // and typed lists.
      if ((fn.s == "torch.jit._pickle.restore_type_tag" || fn.s.rfind("torch.jit._pickle.build_", 0) == 0) &&
          !args.items.empty())
        return args.items[0];
    }
    auto n = make(Node::Kind::Object);  // any other Python object: a placeholder
    n->s = fn.s;
    return n;
  }

  NodePtr make(Node::Kind k) {
    auto n = std::make_shared<Node>();
    n->kind = k;
    nodes_.push_back(n);
    return n;
  }

  std::vector<NodePtr> nodes_;  // every value made, for the destructor
  const char* p_;
  const char* end_;
  const char* begin_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<NodePtr> stack_;
  std::map<int64_t, NodePtr> memo_;
  std::map<std::string, NodePtr> storages_;
};

// `budget` counts the values converted: a pickle can share one list many times over (through the
// memo), and converting a shared value once per reference could take exponential time.
c10::IValue toIValue(const NodePtr& n, int depth, int64_t& budget) {
  if (depth > 200) throw Error("the pickle nests deeper than 200 levels");
  if (--budget < 0) throw Error("the pickle holds more than ten million values");
  switch (n->kind) {
    case Node::Kind::None: return c10::IValue();
    case Node::Kind::Bool: return c10::IValue(n->b);
    case Node::Kind::Int: return c10::IValue(n->i);
    case Node::Kind::Float: return c10::IValue(n->f);
    case Node::Kind::Str: return c10::IValue(n->s);
    case Node::Kind::Tensor: return c10::IValue(n->tensor);
    case Node::Kind::List: {
      c10::impl::GenericList list(c10::AnyType::get());
      for (const auto& item : n->items) list.push_back(toIValue(item, depth + 1, budget));
      return c10::IValue(list);
    }
    case Node::Kind::Tuple: {
      std::vector<c10::IValue> items;
      for (const auto& item : n->items) items.push_back(toIValue(item, depth + 1, budget));
      return c10::IValue(c10::ivalue::Tuple::create(std::move(items)));
    }
    case Node::Kind::Dict: {
      c10::impl::GenericDict dict(c10::AnyType::get(), c10::AnyType::get());
      for (const auto& [k, v] : n->entries) {
        // Keys as Python hashes them; ones LibTorch cannot hash (tuples...) by a placeholder.
        const bool hashable = k->kind == Node::Kind::Str || k->kind == Node::Kind::Int ||
                              k->kind == Node::Kind::Bool || k->kind == Node::Kind::Float;
        dict.insert_or_assign(hashable ? toIValue(k, depth + 1, budget) : c10::IValue("<key>"), toIValue(v, depth + 1, budget));
      }
      return c10::IValue(dict);
    }
    case Node::Kind::Global: return c10::IValue("<global " + n->s + ">");
    case Node::Kind::Object: return c10::IValue("<object " + n->s + ">");
    case Node::Kind::Storage: return c10::IValue("<storage " + n->s + ">");
    case Node::Kind::Mark: break;
  }
  throw Error("a pickle that leaves a MARK on the stack");
}

}  // namespace

namespace {

c10::IValue readArchive(caffe2::serialize::PyTorchStreamReader& zip, const std::string& name) {
  if (!zip.hasRecord("data.pkl")) throw Error(name + ": a zip archive without data.pkl: not a torch.save file");
  try {
    auto [data, size] = zip.getRecord("data.pkl");
    PickleMachine machine(static_cast<const char*>(data.get()), size, zip);
    int64_t budget = 10000000;
    return toIValue(machine.run(), 0, budget);
  } catch (const Error& e) {
    throw Error(name + ": " + e.what());
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    throw Error(name + ": a damaged or truncated torch.save archive (" + why.substr(0, why.find('\n')) + ")");
  }
}

template <typename Source>
c10::IValue openArchive(Source source, const std::string& name) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(source);
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    throw Error(name + ": not a torch.save zip archive, or a truncated one (" + why.substr(0, why.find('\n')) + ")");
  }
  return readArchive(*zip, name);
}

}  // namespace

c10::IValue loadTorchSave(const std::string& path) { return openArchive(path, path); }

c10::IValue loadTorchSave(std::istream& in, const std::string& name) { return openArchive(&in, name); }

}  // namespace pretext
