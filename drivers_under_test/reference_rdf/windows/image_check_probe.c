/* A Win32 console program: what check_driver_image.cmake must refuse (console subsystem, no
   DriverEntry, imports from KERNEL32.dll and the C runtime). Never installed. */
int main(void) { return 0; }
