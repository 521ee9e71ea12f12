# litetrack_fix_wheel_include_dirs(): repair the include directories baked into the ROS 2 PyPI wheels.
#
# The wheels' exported `<pkg>__rosidl_generator_py` CMake targets (std_msgs, geometry_msgs, ...)
# carry INTERFACE_INCLUDE_DIRECTORIES of the machine that built the wheels
# (/opt/python/cp311-cp311/include/python3.11 and its numpy include dir). CMake refuses imported
# targets whose include directories do not exist, so a package that generates interfaces against
# them fails at generate time. Call this after rosidl_generate_interfaces() (which finds Python3
# with its NumPy component): every missing directory in those targets is replaced by this Python's
# and numpy's include directories. Directories that exist are left alone, so on a real ROS 2
# installation this changes nothing. (Same effect as ../shared/tools/fix_ros_wheels.sh, without
# editing the installed files.)
function(litetrack_fix_wheel_include_dirs)
  if(NOT Python3_INCLUDE_DIRS OR NOT Python3_NumPy_INCLUDE_DIRS)
    find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  endif()
  get_property(_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    if(NOT _target MATCHES "__rosidl_generator_py$")
      continue()
    endif()
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    set(_missing FALSE)
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _fixed "${_dir}")
      else()
        set(_missing TRUE)
      endif()
    endforeach()
    if(_missing)
      list(APPEND _fixed ${Python3_INCLUDE_DIRS} ${Python3_NumPy_INCLUDE_DIRS})
      list(REMOVE_DUPLICATES _fixed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
      message(STATUS "litetrack: ${_target}: replaced missing include directories with this Python's")
    endif()
  endforeach()
endfunction()
