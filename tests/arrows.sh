#!/bin/sh
# Checks the module arrows of DESIGN.md §10 on the include lines: a folder may
# include only its own headers and those of the folders it points to. Only
# net/ (and tests/net/) includes ZeroMQ; only kernels/ includes CUDA.
root=${1:-.}
cd "$root" || exit 2
fail=0
allowed() {
  case $1 in
    mpc) echo "mpc" ;;
    net) echo "net mpc" ;;
    kernels) echo "kernels mpc" ;;
    protocols) echo "protocols mpc kernels" ;;
    mpcache) echo "mpcache protocols mpc" ;;
    llm) echo "llm mpcache protocols mpc" ;;
  esac
}
for dir in mpc net kernels protocols mpcache llm; do
  ok=$(allowed $dir)
  for f in $(find "$dir" -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' 2>/dev/null); do
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*".*/\1/p' "$f"); do
      case " $ok " in
        *" $inc "*) ;;
        *) echo "arrow violation: $f includes $inc/ (allowed: $ok)"; fail=1 ;;
      esac
    done
  done
done
z=$(grep -rlE '#[[:space:]]*include[[:space:]]*[<"](zmq|czmq)\.h' --include='*.[ch]' . | grep -vE '^\./(net|tests/net)/' )
[ -n "$z" ] && { echo "ZeroMQ included outside net/: $z"; fail=1; }
c=$(grep -rlE '#[[:space:]]*include[[:space:]]*[<"](cuda_runtime|cuda)\.h' --include='*.[ch]' --include='*.cu' . | grep -vE '^\./(kernels|tests/kernels)/')
[ -n "$c" ] && { echo "CUDA included outside kernels/: $c"; fail=1; }
[ $fail = 0 ] && echo "module arrows: ok"
exit $fail
