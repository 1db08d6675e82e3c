# One place for compiler flags that every target of ours gets.
add_library(imgstore_warnings INTERFACE)
target_compile_options(imgstore_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(IMGSTORE_WERROR)
  target_compile_options(imgstore_warnings INTERFACE -Werror)
endif()
if(IMGSTORE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
