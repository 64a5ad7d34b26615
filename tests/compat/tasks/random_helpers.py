# The random and maths helpers of pyControl.utility, drawn from the session's seeded generator.
from pyControl.utility import *

states = ['only']
events = []
initial_state = 'only'


def run_start():
    s = sample_without_replacement(['a', 'b', 'c'])
    v.draws = [s.next() for _ in range(6)]
    v.ints = [randint(1, 3) for _ in range(60)]
    v.heads = sum(withprob(0.25) for _ in range(1000))
    v.shuffled = shuffled([1, 2, 3, 4, 5])
    v.choice = choice(['x', 'y', 'z'])
    v.exp = exp_rand(10)
    v.gauss = gauss_rand(0, 1)
    v.uniform = random()
    average = exp_mov_ave(tau=2, init_value=0)
    for _ in range(3):
        average.update(1)
    v.ema = average.value
    v.mean = mean([1, 2, 3, 6])
    print_variables()


def only(event):
    if event == 'entry':
        stop_framework()
