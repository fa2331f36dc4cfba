
// expected-error @+1 {{unkown chip 'Ax4'; expected A2, A3, A5 or A310P}}
func.func private @f()